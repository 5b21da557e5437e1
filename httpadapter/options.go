package httpadapter

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/keyward/keys"
)

// RequireOption configures one route guarded by RequireKey.
type RequireOption func(*requireConfig)

type requireConfig struct {
	scopes    []string
	cost      int
	challenge string // WWW-Authenticate of an insufficient_scope answer
}

// WithScopes makes the route require every one of scopes: a child key
// without one of them is refused with 403 insufficient_scope and a
// WWW-Authenticate header naming them (RFC 6750), counted against the
// key's per-minute rate but not its monthly quota. Root keys and children
// without scopes are unrestricted. It panics on a malformed scope (see
// keys.ValidScope), a programming error.
func WithScopes(scopes ...string) RequireOption {
	for _, s := range scopes {
		if !keys.ValidScope(s) {
			panic(fmt.Sprintf("httpadapter: WithScopes(%q): a scope is 1 to 64 characters of a-z 0-9 : . _ -", s))
		}
	}
	scopes = append([]string(nil), scopes...)
	return func(c *requireConfig) { c.scopes = append(c.scopes, scopes...) }
}

// WithCost makes each request of the route count as n requests against
// the rate and the monthly quota (Manager.AllowN), for an endpoint that
// does n requests' worth of work. It panics if n < 1.
func WithCost(n int) RequireOption {
	if n < 1 {
		panic(fmt.Sprintf("httpadapter: WithCost(%d): the cost must be at least 1", n))
	}
	return func(c *requireConfig) { c.cost = n }
}

func newRequireConfig(opts []RequireOption) *requireConfig {
	c := &requireConfig{cost: 1}
	for _, o := range opts {
		if o != nil {
			o(c)
		}
	}
	if len(c.scopes) > 0 {
		c.challenge = `Bearer error="insufficient_scope", scope="` + strings.Join(c.scopes, " ") + `"`
	}
	return c
}

// RemoteAddrIP returns the host of r.RemoteAddr, the default of
// Options.ClientIP; the zero netip.Addr if it is not an IP address.
func RemoteAddrIP(r *http.Request) netip.Addr {
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		return ap.Addr()
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, _ := netip.ParseAddr(host)
	return a
}

// checkNetwork refuses k if the request comes from outside its allowed
// networks.
func (h *Handler) checkNetwork(r *http.Request, k *keys.Key) *Error {
	if k.AllowedNetworks == nil || k.AllowsAddr(h.clientIP(r)) {
		return nil
	}
	return newError(http.StatusForbidden, CodeIPNotAllowed,
		"This API key may not be used from this network address.", nil)
}

// checkScopes refuses k if it lacks one of c's scopes.
func checkScopes(c *requireConfig, k *keys.Key) *Error {
	for _, s := range c.scopes {
		if !k.HasScope(s) {
			e := newError(http.StatusForbidden, CodeInsufficientScope,
				"This API key lacks a scope this endpoint needs; the WWW-Authenticate header names them.", nil)
			e.challenge = c.challenge
			return e
		}
	}
	return nil
}

func errRootKeyRetired(err error) *Error {
	return newError(http.StatusForbidden, CodeRootKeyRetired,
		"This root key has been replaced and only works until its grace period ends; use the new root key.", err)
}

func errInvalidRequest(msg string) *Error {
	return newError(http.StatusBadRequest, CodeInvalidRequest, msg, nil)
}

var errBasicSyntax = errors.New("httpadapter: Basic credentials that do not decode")

// dataToken extracts the API key of a RequireKey request: from
// Authorization (Bearer, or Basic when enabled) or, when enabled, from
// X-API-Key. Two credentials are ambiguous and refused.
func (h *Handler) dataToken(r *http.Request) (string, *Error) {
	if !h.apiKeyHeader && !h.basicAuth {
		token, _, e := h.bearer(r, false)
		return token, e
	}
	auth := r.Header["Authorization"]
	if h.apiKeyHeader {
		if xk := r.Header["X-Api-Key"]; len(xk) > 0 {
			if len(xk) > 1 || len(auth) > 0 {
				return "", errInvalidRequest("Send one credential: an API key in Authorization or in X-API-Key, not both.")
			}
			token := strings.Trim(xk[0], " \t")
			switch {
			case token == "":
				return "", errMissingCredentials(challengeInvalidRequest)
			case !h.isAPIKey(token) || len(token) > MaxTokenBytes || !isB64Token(token):
				return "", errInvalidAPIKey(errTokenSyntax)
			}
			return token, nil
		}
	}
	if h.basicAuth && len(auth) == 1 {
		v := strings.Trim(auth[0], " \t")
		if scheme, rest, _ := strings.Cut(v, " "); strings.EqualFold(scheme, "Basic") {
			return h.basicToken(strings.TrimLeft(rest, " "))
		}
	}
	token, _, e := h.bearer(r, false)
	return token, e
}

// basicToken returns the user name of Basic credentials as an API key.
func (h *Handler) basicToken(cred string) (string, *Error) {
	if len(cred) > MaxTokenBytes {
		return "", errInvalidAPIKey(errBasicSyntax)
	}
	raw, err := base64.StdEncoding.DecodeString(cred)
	if err != nil {
		return "", errMissingCredentials(challengeInvalidRequest)
	}
	user, _, _ := strings.Cut(string(raw), ":")
	if user == "" {
		return "", errMissingCredentials(challengeInvalidRequest)
	}
	if !h.isAPIKey(user) || !isB64Token(user) {
		return "", errDataRouteNeedsKey()
	}
	return user, nil
}
