package main

import (
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/keyward/keys"
)

// The library's own bounds (keys.CreateAccount, keys.IssueChild), checked
// here as well so that a bad value is reported as bad usage (exit 2)
// before the database is opened.
const (
	maxAccountIDLen = 128
	maxNameLen      = 128
)

// checkAccountID checks the account ID given as -flag.
func checkAccountID(flag, id string) error {
	if err := required(flag, id); err != nil {
		return err
	}
	if len(id) > maxAccountIDLen || !printable(id) {
		return usagef("-%s: an account ID is 1 to %d bytes of printable UTF-8 (got %d bytes)", flag, maxAccountIDLen, len(id))
	}
	return nil
}

// checkName checks a child key's -name.
func checkName(name string) error {
	if len(name) > maxNameLen || !printable(name) {
		return usagef("-name: at most %d bytes of printable UTF-8 (got %d bytes)", maxNameLen, len(name))
	}
	return nil
}

func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// configuredTiers are the tiers this CLI knows the limits of: the
// library's defaults with the configuration's tiers (-config, $KEYS_TIERS)
// merged over them, as keys.Config.Tiers merges them.
func configuredTiers(e *env) map[keys.Tier]keys.Limits {
	tiers := keys.DefaultTiers()
	var cfg keys.Config
	e.conf.keysConfig(&cfg)
	for t, l := range cfg.Tiers {
		d := tiers[t]
		if l.RequestsPerMinute != 0 {
			d.RequestsPerMinute = l.RequestsPerMinute
		}
		if l.RequestsPerMonth != 0 {
			d.RequestsPerMonth = l.RequestsPerMonth
		}
		tiers[t] = d
	}
	return tiers
}

// checkTier refuses a tier that is not configured here as bad usage: an
// account on it would get limits this CLI cannot state.
func checkTier(e *env, tier string) (keys.Tier, error) {
	tiers := configuredTiers(e)
	if _, ok := tiers[keys.Tier(tier)]; ok {
		return keys.Tier(tier), nil
	}
	var names []string
	for t := range tiers {
		names = append(names, string(t))
	}
	slices.Sort(names)
	return "", usagef("-tier %q: unknown tier, not configured here (want one of %s)", tier, strings.Join(names, ", "))
}

// tierNote is what the CLI says instead of limits for an account whose
// tier is not configured here: the host defines it, and any number printed
// would be a guess (the library would fall back to free's).
func tierNote(tiers map[keys.Tier]keys.Limits, tier keys.Tier) string {
	if _, ok := tiers[tier]; ok {
		return ""
	}
	return "tier " + string(tier) + " is not configured here"
}
