package keys

import (
	"cmp"
	"maps"
	"net/netip"
	"slices"
	"unicode/utf8"

	"github.com/keyward/keys/store"
)

// Limits of the restrictions a child key may carry (DESIGN 5.1).
const (
	MaxScopes           = 32
	MaxScopeLen         = 64
	MaxMetadataPairs    = 16
	MaxMetadataKeyLen   = 64
	MaxMetadataValueLen = 256
	MaxAllowedNetworks  = 32
)

// HasScope reports whether k may do what scope names: true for a key
// without scopes (a root key, or an unrestricted child), else whether
// scope is one of k.Scopes, matched exactly. It relies on k.Scopes being
// sorted, as every Key from the Manager has them; an unsorted list can only
// make it answer false. HasScope and AllowsAddr take a pointer, unlike
// Key's other methods, so that a check on the hot path does not copy the
// whole Key.
func (k *Key) HasScope(scope string) bool {
	if k.Scopes == nil || k.IsRoot {
		return true
	}
	_, ok := slices.BinarySearch(k.Scopes, scope)
	return ok
}

// AllowsAddr reports whether a request from addr may use k: true for a key
// without AllowedNetworks, else whether one of them contains addr (an
// IPv4-mapped IPv6 address counts as IPv4; a zone is ignored). An invalid
// addr is never allowed by a restricted key. It relies on the canonical
// form in which the Manager returns AllowedNetworks (a binary search); a
// list in another order can only make it answer false.
func (k *Key) AllowsAddr(addr netip.Addr) bool {
	ps := k.AllowedNetworks
	if ps == nil {
		return true
	}
	addr = addr.Unmap().WithZone("")
	if !addr.IsValid() {
		return false
	}
	// The canonical prefixes are disjoint and sorted by first address
	// (IPv4 before IPv6), so the only one that can contain addr is the
	// last that starts at or before it.
	lo, hi := 0, len(ps)
	if addr.Is4() {
		// IPv4, the common case, compares as uint32: cheaper than
		// Addr.Compare.
		x := be32(addr.As4())
		for lo < hi {
			mid := int(uint(lo+hi) >> 1)
			if a := ps[mid].Addr(); a.Is4() && be32(a.As4()) <= x {
				lo = mid + 1
			} else {
				hi = mid
			}
		}
	} else {
		for lo < hi {
			mid := int(uint(lo+hi) >> 1)
			if ps[mid].Addr().Compare(addr) <= 0 {
				lo = mid + 1
			} else {
				hi = mid
			}
		}
	}
	return lo > 0 && ps[lo-1].Contains(addr)
}

func be32(b [4]byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// validScopes checks scopes and returns them sorted without duplicates.
func validScopes(scopes []string) ([]string, error) {
	if scopes == nil {
		return nil, nil
	}
	if len(scopes) == 0 {
		return nil, invalidf("scopes: an empty list is refused; omit it for an unrestricted key")
	}
	if len(scopes) > MaxScopes {
		return nil, invalidf("scopes: %d given, at most %d allowed", len(scopes), MaxScopes)
	}
	for _, s := range scopes {
		if !validScope(s) {
			return nil, invalidf("scopes: %q is not 1 to %d characters of a-z 0-9 : . _ -", clipArg(s), MaxScopeLen)
		}
	}
	out := slices.Clone(scopes)
	slices.Sort(out)
	return slices.Compact(out), nil
}

// ValidScope reports whether s is a well-formed scope: 1 to 64 characters
// of a-z 0-9 : . _ -.
func ValidScope(s string) bool { return validScope(s) }

func validScope(s string) bool {
	if len(s) == 0 || len(s) > MaxScopeLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == ':' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// validMetadata checks md and returns a copy; an empty map is nil.
func validMetadata(md map[string]string) (map[string]string, error) {
	if len(md) == 0 {
		return nil, nil
	}
	if len(md) > MaxMetadataPairs {
		return nil, invalidf("metadata: %d pairs given, at most %d allowed", len(md), MaxMetadataPairs)
	}
	for _, k := range slices.Sorted(maps.Keys(md)) {
		if !validMetadataKey(k) {
			return nil, invalidf("metadata: key %q is not 1 to %d bytes of A-Z a-z 0-9 _ . -", clipArg(k), MaxMetadataKeyLen)
		}
		if v := md[k]; len(v) > MaxMetadataValueLen || !utf8.ValidString(v) {
			return nil, invalidf("metadata: the value of %q is not at most %d bytes of UTF-8", k, MaxMetadataValueLen)
		}
	}
	return maps.Clone(md), nil
}

func validMetadataKey(s string) bool {
	if len(s) == 0 || len(s) > MaxMetadataKeyLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// validNetworks checks ps and returns their canonical form: each prefix
// masked (10.1.2.3/8 becomes 10.0.0.0/8), IPv4-mapped IPv6 prefixes as
// IPv4, sorted by first address, and without prefixes another one
// contains. The set of allowed addresses is unchanged.
func validNetworks(ps []netip.Prefix) ([]netip.Prefix, error) {
	if ps == nil {
		return nil, nil
	}
	if len(ps) == 0 {
		return nil, invalidf("allowed networks: an empty list is refused; omit it to allow any address")
	}
	if len(ps) > MaxAllowedNetworks {
		return nil, invalidf("allowed networks: %d given, at most %d allowed", len(ps), MaxAllowedNetworks)
	}
	out := make([]netip.Prefix, 0, len(ps))
	for _, p := range ps {
		if !p.IsValid() {
			return nil, invalidf("allowed networks: %q is not a CIDR prefix", p.String())
		}
		if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		out = append(out, p.Masked())
	}
	slices.SortFunc(out, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return cmp.Compare(a.Bits(), b.Bits())
	})
	// Sorted and with wider prefixes first at equal starts, a prefix is
	// inside another kept one only if it is inside the last kept one.
	kept := out[:0]
	for _, p := range out {
		if n := len(kept); n > 0 && kept[n-1].Bits() <= p.Bits() && kept[n-1].Contains(p.Addr()) {
			continue
		}
		kept = append(kept, p)
	}
	return slices.Clip(kept), nil
}

// clipArg shortens a caller's value quoted in an error message.
func clipArg(s string) string {
	if len(s) > 80 {
		s = s[:80] + "…"
	}
	if !utf8.ValidString(s) {
		return "(invalid UTF-8)"
	}
	return s
}

// restrictChild validates opts' scopes, metadata and networks into k.
func restrictChild(k *store.Key, opts *ChildOptions) error {
	var err error
	if k.Scopes, err = validScopes(opts.Scopes); err != nil {
		return err
	}
	if k.Metadata, err = validMetadata(opts.Metadata); err != nil {
		return err
	}
	k.AllowedNetworks, err = validNetworks(opts.AllowedNetworks)
	return err
}
