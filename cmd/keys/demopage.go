package main

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"html/template"
	"net"
	"net/http"
	"strings"
)

// demoCookie is the cookie that makes a browser the demo account's
// session on the demo page.
const demoCookie = "keys_demo"

// demoCSP is the demo page's Content-Security-Policy: the key page needs
// no inline script or style, no eval and no other origin.
const demoCSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

var demoHTML = template.Must(template.New("demo").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>API keys: {{.Account}} (keys demo)</title>
<script type="module" src="{{.Script}}"></script>
</head><body>
<main>
<p><strong>keys demo page</strong> for the account <code>{{.Account}}</code>. It is served only to this machine's loopback
address; never expose it: anyone who can load it manages the account's keys.</p>
<keys-manager></keys-manager>
</main>
</body></html>
`))

// demoPage serves the key page for the demo account at "/" and makes the
// browser that loads it the account's session through a cookie. It answers
// only requests from a loopback address (so not the network, whatever
// -addr listens on) that are addressed to an IP literal or localhost, so a
// site that rebinds its own name to 127.0.0.1 (DNS rebinding) can neither
// read the page nor have its requests carry the cookie as its own origin.
type demoPage struct {
	account string
	script  string // the component's URL
	token   string // this process's cookie value, random
}

func newDemoPage(account, script string) (*demoPage, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	return &demoPage{account: account, script: script, token: hex.EncodeToString(b[:])}, nil
}

// local reports whether r may use the demo page: it comes from a loopback
// address (this machine, whatever -addr listens on) and was sent to an IP
// literal or localhost rather than to a DNS name.
func local(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback() && addressedByIP(r)
}

// addressedByIP reports whether r was sent to an IP literal or to
// localhost rather than to a DNS name.
func addressedByIP(r *http.Request) bool {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	return strings.EqualFold(host, "localhost") || net.ParseIP(host) != nil
}

func (p *demoPage) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !local(r) {
		notFound.ServeHTTP(w, r)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: demoCookie, Value: p.token, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
	hdr := w.Header()
	hdr.Set("Content-Security-Policy", demoCSP)
	hdr.Set("Content-Type", "text/html; charset=utf-8")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "no-referrer")
	_ = demoHTML.Execute(w, struct{ Account, Script string }{p.account, p.script})
}

var errDemoCookie = errors.New("not this server's demo cookie")

// session is the adapter's Options.SessionFromRequest: the demo cookie of
// this process, on a request addressed by IP, is the demo account. No
// cookie is no credential; a wrong one (an older run's) is refused.
func (p *demoPage) session(r *http.Request) (string, error) {
	c, err := r.Cookie(demoCookie)
	if err != nil {
		return "", nil
	}
	if !local(r) || subtle.ConstantTimeCompare([]byte(c.Value), []byte(p.token)) != 1 {
		return "", errDemoCookie
	}
	return p.account, nil
}
