package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"

	"github.com/keyward/keys"
)

// keyView is a key as the CLI prints it: the fields of the HTTP API's
// GET /account/key, plus the account and the revocation time.
type keyView struct {
	ID             uuid.UUID         `json:"id"`
	AccountID      string            `json:"account_id"`
	Prefix         string            `json:"key_prefix"`
	Name           *string           `json:"name"`
	RootKeyID      uuid.UUID         `json:"root_key_id"`
	IsRoot         bool              `json:"is_root_key"`
	IsActive       bool              `json:"is_active"`
	CreatedAt      string            `json:"created_at"`
	LastUsedAt     *string           `json:"last_used_at"`
	ExpiresAt      *string           `json:"expires_at"`
	RevokedAt      *string           `json:"revoked_at"`
	QuotaOverride  *int64            `json:"quota_requests_per_month_override"`
	RateOverride   *int              `json:"rate_requests_per_minute_override"`
	EffectiveQuota int64             `json:"effective_quota_requests_per_month"`
	EffectiveRate  int               `json:"effective_rate_requests_per_minute"`
	Scopes         []string          `json:"scopes"`
	Metadata       map[string]string `json:"metadata"`
	Networks       []string          `json:"allowed_networks"`
	Status         string            `json:"status"`
}

func viewKey(k keys.Key, now time.Time) keyView {
	v := keyView{
		ID: k.ID, AccountID: k.AccountID, Prefix: k.Prefix, RootKeyID: k.RootKeyID, IsRoot: k.IsRoot,
		IsActive: k.Active(now), CreatedAt: stamp(k.CreatedAt), LastUsedAt: stampPtr(k.LastUsedAt),
		ExpiresAt: stampPtr(k.ExpiresAt), RevokedAt: stampPtr(k.RevokedAt),
		QuotaOverride: k.RequestsPerMonthOverride, RateOverride: k.RequestsPerMinuteOverride,
		EffectiveQuota: k.Effective.RequestsPerMonth, EffectiveRate: k.Effective.RequestsPerMinute,
	}
	if k.Name != "" {
		v.Name = &k.Name
	}
	v.Scopes, v.Metadata = k.Scopes, k.Metadata
	for _, p := range k.AllowedNetworks {
		v.Networks = append(v.Networks, p.String())
	}
	if k.Retiring(now) {
		// As the HTTP API shows it: when the key stops, grace included.
		v.ExpiresAt = stampPtr(k.StopsAt())
	}
	v.Status = status(k, now)
	return v
}

func status(k keys.Key, now time.Time) string {
	switch {
	case k.Retiring(now) && k.Active(now):
		return "retiring"
	case k.RevokedAt != nil && !k.Retiring(now):
		return "revoked"
	case !k.Active(now):
		return "expired"
	default:
		return "active"
	}
}

// issuedView is what reissue and child print: the secret, once.
type issuedView struct {
	Secret    string    `json:"key"`
	Prefix    string    `json:"key_prefix"`
	ID        uuid.UUID `json:"id"`
	AccountID string    `json:"account_id"`
	CreatedAt string    `json:"created_at"`
	Message   string    `json:"message"`
}

const storeSecurely = "Store this key securely. It will not be shown again."

func viewIssued(iss keys.Issued) issuedView {
	return issuedView{Secret: iss.Secret, Prefix: iss.Key.Prefix, ID: iss.Key.ID, AccountID: iss.Key.AccountID,
		CreatedAt: stamp(iss.Key.CreatedAt), Message: storeSecurely}
}

type accountView struct {
	ID            string `json:"id"`
	Tier          string `json:"tier"`
	EmailVerified bool   `json:"email_verified"`
	CreatedAt     string `json:"created_at"`
	UpdatedAt     string `json:"updated_at"`
	Rate          int    `json:"rate_requests_per_minute"`
	Quota         int64  `json:"quota_requests_per_month"`
}

func viewAccount(a keys.Account, tiers map[keys.Tier]keys.Limits) accountView {
	l := tiers[a.Tier]
	return accountView{ID: a.ID, Tier: string(a.Tier), EmailVerified: a.EmailVerified,
		CreatedAt: stamp(a.CreatedAt), UpdatedAt: stamp(a.UpdatedAt), Rate: l.RequestsPerMinute, Quota: l.RequestsPerMonth}
}

func stamp(t time.Time) string { return t.UTC().Truncate(time.Second).Format(time.RFC3339) }

func stampPtr(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := stamp(*t)
	return &s
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table writes rows aligned in columns.
func table(w io.Writer, header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, r := range append([][]string{header}, rows...) {
		for i, c := range r {
			if i > 0 {
				fmt.Fprint(tw, "\t")
			}
			fmt.Fprint(tw, c)
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

func orDash(s *string) string {
	if s == nil || *s == "" {
		return "-"
	}
	return *s
}

func keyRows(ks []keyView) [][]string {
	rows := make([][]string, len(ks))
	for i, k := range ks {
		kind := "child"
		if k.IsRoot {
			kind = "root"
		}
		rows[i] = []string{k.ID.String(), kind, orDash(k.Name), k.Status, k.CreatedAt, orDash(k.LastUsedAt),
			orDash(k.ExpiresAt), strconv.Itoa(k.EffectiveRate) + "/min", strconv.FormatInt(k.EffectiveQuota, 10) + "/month",
			listText(k.Scopes), listText(k.Networks), metaText(k.Metadata)}
	}
	return rows
}

var keyHeader = []string{"ID", "KIND", "NAME", "STATUS", "CREATED", "LAST USED", "EXPIRES", "RATE", "QUOTA", "SCOPES", "NETWORKS", "METADATA"}

// metaText formats metadata as k=v pairs in key order, "-" for none.
func metaText(md map[string]string) string {
	pairs := make([]string, 0, len(md))
	for _, k := range slices.Sorted(maps.Keys(md)) {
		pairs = append(pairs, k+"="+strconv.Quote(md[k]))
	}
	return listText(pairs)
}

func printKeys(w io.Writer, asJSON bool, ks []keyView) error {
	if asJSON {
		return writeJSON(w, ks)
	}
	return table(w, keyHeader, keyRows(ks))
}

func printKey(w io.Writer, asJSON bool, k keyView) error {
	if asJSON {
		return writeJSON(w, k)
	}
	return table(w, keyHeader, keyRows([]keyView{k}))
}

func printIssued(w io.Writer, asJSON bool, iss keys.Issued) error {
	v := viewIssued(iss)
	if asJSON {
		return writeJSON(w, v)
	}
	_, err := fmt.Fprintf(w, "%s\n\nkey id:   %s\naccount:  %s\nprefix:   %s\ncreated:  %s\n%s\n",
		v.Secret, v.ID, v.AccountID, v.Prefix, v.CreatedAt, v.Message)
	return err
}

func printAccount(w io.Writer, asJSON bool, v accountView) error {
	if asJSON {
		return writeJSON(w, v)
	}
	return table(w, []string{"ID", "TIER", "VERIFIED", "RATE", "QUOTA", "CREATED"},
		[][]string{{v.ID, v.Tier, strconv.FormatBool(v.EmailVerified), strconv.Itoa(v.Rate) + "/min",
			strconv.FormatInt(v.Quota, 10) + "/month", v.CreatedAt}})
}
