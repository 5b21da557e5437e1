package sqlstore

import (
	"database/sql"
	"encoding/json"
	"net/netip"

	"github.com/keyward/keys/store"
)

// The scopes, metadata and allowed_networks columns hold JSON text (an
// array of strings, an object of strings, an array of CIDR strings), NULL
// for none: one portable form for both dialects, read only on a cache miss.

// encodeLists returns the column values of k's scopes, metadata and
// networks.
func encodeLists(k *store.Key) (scopes, metadata, networks sql.NullString) {
	if k.Scopes != nil {
		scopes = jsonText(k.Scopes)
	}
	if len(k.Metadata) > 0 {
		metadata = jsonText(k.Metadata)
	}
	if k.AllowedNetworks != nil {
		networks = jsonText(k.AllowedNetworks) // netip.Prefix marshals as its CIDR text
	}
	return scopes, metadata, networks
}

func jsonText(v any) sql.NullString {
	b, err := json.Marshal(v)
	if err != nil {
		// Strings, string maps and prefixes always marshal.
		panic("sqlstore: " + err.Error())
	}
	return sql.NullString{String: string(b), Valid: true}
}

// decodeLists sets k's scopes, metadata and networks from their columns. A
// value that does not decode fails closed: the list becomes empty and not
// nil, which allows no scope and no address, rather than nil, which would
// allow all.
func decodeLists(k *store.Key, scopes, metadata, networks sql.NullString) {
	if scopes.Valid {
		if json.Unmarshal([]byte(scopes.String), &k.Scopes) != nil || k.Scopes == nil {
			k.Scopes = []string{}
		}
	}
	if metadata.Valid {
		if json.Unmarshal([]byte(metadata.String), &k.Metadata) != nil || len(k.Metadata) == 0 {
			k.Metadata = nil
		}
	}
	if networks.Valid {
		var ps []netip.Prefix
		if json.Unmarshal([]byte(networks.String), &ps) != nil || ps == nil {
			ps = []netip.Prefix{}
		}
		k.AllowedNetworks = ps
	}
}
