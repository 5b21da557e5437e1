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
	EffectiveQuota *int64            `json:"effective_quota_requests_per_month"`
	EffectiveRate  *int              `json:"effective_rate_requests_per_minute"`
	Scopes         []string          `json:"scopes"`
	Metadata       map[string]string `json:"metadata"`
	Networks       []string          `json:"allowed_networks"`
	Status         string            `json:"status"`
	// Note says why the effective limits are null: the account's tier is
	// not configured here.
	Note string `json:"note,omitempty"`
}

// viewKey is k as printed. note, if not empty, says why its limits are
// not known here (tierNote); they are then left out rather than guessed.
func viewKey(k keys.Key, now time.Time, note string) keyView {
	v := keyView{
		ID: k.ID, AccountID: k.AccountID, Prefix: k.Prefix, RootKeyID: k.RootKeyID, IsRoot: k.IsRoot,
		IsActive: k.Active(now), CreatedAt: stamp(k.CreatedAt), LastUsedAt: stampPtr(k.LastUsedAt),
		ExpiresAt: stampPtr(k.ExpiresAt), RevokedAt: stampPtr(k.RevokedAt),
		QuotaOverride: k.RequestsPerMonthOverride, RateOverride: k.RequestsPerMinuteOverride,
		Note: note,
	}
	if note == "" {
		v.EffectiveQuota, v.EffectiveRate = &k.Effective.RequestsPerMonth, &k.Effective.RequestsPerMinute
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
	Rate          *int   `json:"rate_requests_per_minute"`
	Quota         *int64 `json:"quota_requests_per_month"`
	// Note says why Rate and Quota are null (tierNote).
	Note string `json:"note,omitempty"`
}

// viewAccount is a as printed, with its tier's limits if tiers has them.
func viewAccount(a keys.Account, tiers map[keys.Tier]keys.Limits) accountView {
	v := accountView{ID: a.ID, Tier: string(a.Tier), EmailVerified: a.EmailVerified,
		CreatedAt: stamp(a.CreatedAt), UpdatedAt: stamp(a.UpdatedAt), Note: tierNote(tiers, a.Tier)}
	if l, ok := tiers[a.Tier]; ok {
		v.Rate, v.Quota = &l.RequestsPerMinute, &l.RequestsPerMonth
	}
	return v
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
			orDash(k.ExpiresAt), rate(k.EffectiveRate), quota(k.EffectiveQuota),
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

// rate and quota format a limit; "?" for one not known here.
func rate(r *int) string {
	if r == nil {
		return "?"
	}
	return strconv.Itoa(*r) + "/min"
}

func quota(q *int64) string {
	if q == nil {
		return "?"
	}
	return strconv.FormatInt(*q, 10) + "/month"
}

// printNote writes the note, if any, under a table.
func printNote(w io.Writer, note string) error {
	if note == "" {
		return nil
	}
	_, err := fmt.Fprintf(w, "limits: %s; its limits are the host's to know\n", note)
	return err
}

func printKeys(w io.Writer, asJSON bool, ks []keyView) error {
	if asJSON {
		return writeJSON(w, ks)
	}
	if err := table(w, keyHeader, keyRows(ks)); err != nil {
		return err
	}
	if len(ks) > 0 {
		return printNote(w, ks[0].Note)
	}
	return nil
}

func printKey(w io.Writer, asJSON bool, k keyView) error {
	if asJSON {
		return writeJSON(w, k)
	}
	if err := table(w, keyHeader, keyRows([]keyView{k})); err != nil {
		return err
	}
	return printNote(w, k.Note)
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
	if err := table(w, []string{"ID", "TIER", "VERIFIED", "RATE", "QUOTA", "CREATED"},
		[][]string{{v.ID, v.Tier, strconv.FormatBool(v.EmailVerified), rate(v.Rate), quota(v.Quota), v.CreatedAt}}); err != nil {
		return err
	}
	return printNote(w, v.Note)
}
