package httpadapter

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/keyward/keys"
)

// stdKeyBody is the key body as encoding/json would write it: the
// reference the hand-written encoder must match byte for byte.
type stdKeyBody struct {
	Key struct {
		ID                        string  `json:"id"`
		KeyPrefix                 string  `json:"key_prefix"`
		Name                      *string `json:"name"`
		RootKeyID                 string  `json:"root_key_id"`
		IsRootKey                 bool    `json:"is_root_key"`
		IsActive                  bool    `json:"is_active"`
		CreatedAt                 string  `json:"created_at"`
		LastUsedAt                *string `json:"last_used_at"`
		ExpiresAt                 *string `json:"expires_at"`
		QuotaOverride             *int64  `json:"quota_requests_per_month_override"`
		RateOverride              *int    `json:"rate_requests_per_minute_override"`
		EffectiveRequestsPerMonth int64   `json:"effective_quota_requests_per_month"`
		EffectiveRequestsPerMin   int     `json:"effective_rate_requests_per_minute"`
	} `json:"key"`
}

func stdTime(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := t.UTC().Truncate(time.Second).Format(time.RFC3339)
	return &s
}

func stdEncodeKey(t *testing.T, k *keys.Key, active bool) string {
	var b stdKeyBody
	b.Key.ID, b.Key.KeyPrefix, b.Key.RootKeyID = k.ID.String(), k.Prefix, k.RootKeyID.String()
	if k.Name != "" {
		b.Key.Name = &k.Name
	}
	b.Key.IsRootKey, b.Key.IsActive = k.IsRoot, active
	b.Key.CreatedAt = *stdTime(&k.CreatedAt)
	b.Key.LastUsedAt, b.Key.ExpiresAt = stdTime(k.LastUsedAt), stdTime(k.ExpiresAt)
	b.Key.QuotaOverride, b.Key.RateOverride = k.RequestsPerMonthOverride, k.RequestsPerMinuteOverride
	b.Key.EffectiveRequestsPerMonth, b.Key.EffectiveRequestsPerMin = k.Effective.RequestsPerMonth, k.Effective.RequestsPerMinute
	out, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func TestAppendKeyBodyMatchesEncodingJSON(t *testing.T) {
	berlin := time.FixedZone("CET", 3600)
	lastUsed := time.Date(2026, 3, 2, 12, 15, 0, 999_999_999, berlin)
	expires := time.Date(2027, 1, 1, 0, 0, 0, 1, time.UTC)
	quota, rate := int64(1000), 10
	names := []string{"", "ci", `quote " backslash \ slash /`, "<script>&amp;</script>", "tab\tnl\ncr\r\x00\x1f\x7f",
		"ünïcödé 日本語 🔑", "line\u2028sep\u2029", "bad \xff utf8 \xc3", "\b\f"}
	for _, name := range names {
		for _, root := range []bool{true, false} {
			k := keys.Key{
				ID: uuid.MustParse("01890a5d-ac96-774b-bcce-b302099a8057"), RootKeyID: uuid.New(),
				Prefix: "sk_live_child", Name: name, IsRoot: root,
				CreatedAt: time.Date(2026, 3, 2, 10, 30, 0, 750_000_000, berlin),
				Effective: keys.Limits{RequestsPerMinute: 300, RequestsPerMonth: 500_000},
			}
			if !root {
				k.LastUsedAt, k.ExpiresAt = &lastUsed, &expires
				k.RequestsPerMonthOverride, k.RequestsPerMinuteOverride = &quota, &rate
			}
			got := string(appendKeyBody(nil, &k, root))
			if want := stdEncodeKey(t, &k, root); got != want {
				t.Errorf("name %q:\n got %s\nwant %s", name, got, want)
			}
		}
	}
}

func TestAppendReissueAndErrorBodies(t *testing.T) {
	iss := keys.Issued{Secret: "sk_live_abc", Key: keys.Key{ID: uuid.New(), Prefix: "sk_live_root",
		CreatedAt: time.Date(2026, 3, 2, 10, 30, 0, 5, time.UTC)}}
	want, _ := json.Marshal(struct {
		Key       string `json:"key"`
		KeyPrefix string `json:"key_prefix"`
		ID        string `json:"id"`
		CreatedAt string `json:"created_at"`
		Message   string `json:"message"`
	}{iss.Secret, iss.Key.Prefix, iss.Key.ID.String(), "2026-03-02T10:30:00Z", reissueMessage})
	if got := appendReissueBody(nil, &iss); string(got) != string(want) {
		t.Errorf("reissue body\n got %s\nwant %s", got, want)
	}
	type inner struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	want, _ = json.Marshal(struct {
		Error inner `json:"error"`
	}{inner{"x_y", `a "b" <c>`}})
	if got := appendErrorBody(nil, "x_y", `a "b" <c>`); string(got) != string(want) {
		t.Errorf("error body\n got %s\nwant %s", got, want)
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "a", "\x00", "\u2028", "\xff", "<>&", `"\`, "日本"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendString(nil, s); string(got) != string(want) {
			t.Fatalf("appendString(%q) = %s, want %s", s, got, want)
		}
	})
}

func TestAppendTime(t *testing.T) {
	zones := []*time.Location{time.UTC, time.FixedZone("X", -11*3600-1800), time.FixedZone("Y", 14*3600)}
	times := []time.Time{
		time.Date(2026, 3, 2, 10, 30, 0, 999_999_999, time.UTC),
		time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999, time.UTC),
		time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2024, 2, 29, 23, 59, 60, 0, time.UTC), // normalised to 3-01 00:00:00
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),    // beyond RFC 3339: the fallback
		time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	for _, tm := range times {
		for _, z := range zones {
			in := tm.In(z)
			want := `"` + in.UTC().Truncate(time.Second).Format(time.RFC3339) + `"`
			if got := string(appendTime(nil, in)); got != want {
				t.Errorf("appendTime(%v) = %s, want %s", in, got, want)
			}
		}
	}
}

func TestAppendUUID(t *testing.T) {
	for range 100 {
		id := uuid.New()
		if got := string(appendUUID(nil, id)); got != id.String() {
			t.Fatalf("appendUUID = %s, want %s", got, id)
		}
	}
}

func TestIsB64Token(t *testing.T) {
	for s, want := range map[string]bool{
		"abc": true, "a-b.c_d~e+f/g": true, "abc=": true, "abc==": true,
		"": false, "=": false, "a=b": false, "a b": false, "a\x00": false, "ä": false, "a,b": false,
	} {
		if got := isB64Token(s); got != want {
			t.Errorf("isB64Token(%q) = %v", s, got)
		}
	}
}

func TestRetryAfterAndReset(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "1", time.Nanosecond: "1", time.Second: "1", time.Second + 1: "2",
		30 * time.Second: "30", 29*time.Second + 500*time.Millisecond: "30", -time.Second: "1",
	} {
		if got := retryAfterSeconds(d); got != want {
			t.Errorf("retryAfterSeconds(%v) = %s, want %s", d, got, want)
		}
	}
	base := time.Unix(1_700_000_000, 0)
	if ceilUnix(base) != 1_700_000_000 || ceilUnix(base.Add(1)) != 1_700_000_001 {
		t.Error("ceilUnix does not round up")
	}
}
