package httpadapter_test

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keys"
	"github.com/keyward/keys/httpadapter"
)

type hostileWorld struct {
	*fixture
	root, child string
}

func newHostileWorld(t *testing.T) *hostileWorld {
	t.Helper()
	f := newFixture(t, keys.Config{}, httpadapter.Options{})
	f.account(t, "acct_1", keys.Pro, true)
	root := f.reissue(t, "acct_1").Secret
	child := f.child(t, "acct_1", keys.ChildOptions{}).Secret
	return &hostileWorld{fixture: f, root: root, child: child}
}

// TestHostileHeaders: whatever the Authorization header holds, the answer
// is a clean 2xx or 4xx.
func TestHostileHeaders(t *testing.T) {
	w := newHostileWorld(t)
	big := strings.Repeat("a", 8<<10)
	tests := []struct {
		name   string
		auth   []string
		status int
		code   string // "" for a 200
	}{
		{"no header", nil, 401, "missing_credentials"},
		{"empty header", []string{""}, 401, "missing_credentials"},
		{"spaces only", []string{"   "}, 401, "missing_credentials"},
		{"Bearer alone", []string{"Bearer"}, 401, "missing_credentials"},
		{"Bearer and a space", []string{"Bearer "}, 401, "missing_credentials"},
		{"Bearer and spaces", []string{"Bearer     "}, 401, "missing_credentials"},
		{"lower-case scheme", []string{"bearer " + w.root}, 200, ""},
		{"upper-case scheme", []string{"BEARER " + w.root}, 200, ""},
		{"mixed-case scheme", []string{"bEaReR " + w.root}, 200, ""},
		{"several spaces", []string{"Bearer    " + w.root}, 200, ""},
		{"surrounding whitespace", []string{" \tBearer " + w.root + " \t"}, 200, ""},
		{"tab separator", []string{"Bearer\t" + w.root}, 401, "missing_credentials"},
		{"Bearerx scheme", []string{"Bearerx " + w.root}, 401, "missing_credentials"},
		{"Basic", []string{"Basic " + w.root}, 401, "missing_credentials"},
		{"Token", []string{"Token " + w.root}, 401, "missing_credentials"},
		{"two headers, both valid", []string{"Bearer " + w.root, "Bearer " + w.root}, 401, "missing_credentials"},
		{"two headers, key and session", []string{"Bearer " + w.root, "Bearer session-acct_1"}, 401, "missing_credentials"},
		{"two headers, one empty", []string{"", "Bearer " + w.root}, 401, "missing_credentials"},
		{"two tokens in one header", []string{"Bearer " + w.root + " " + w.child}, 401, "invalid_api_key"},
		{"comma-joined", []string{"Bearer " + w.root + ", Bearer " + w.root}, 401, "invalid_api_key"},
		{"8 KB key-shaped token", []string{"Bearer sk_live_" + big}, 401, "invalid_api_key"},
		{"8 KB session token", []string{"Bearer " + big}, 401, "invalid_session"},
		{"8 KB + 1 session token", []string{"Bearer " + big + "a"}, 401, "invalid_session"},
		{"1 MB token", []string{"Bearer " + strings.Repeat("b", 1<<20)}, 401, "invalid_session"},
		{"key with NUL", []string{"Bearer " + w.root[:20] + "\x00" + w.root[21:]}, 401, "invalid_api_key"},
		{"key with CRLF", []string{"Bearer " + w.root + "\r\nX-Admin: 1"}, 401, "invalid_api_key"},
		{"session with DEL", []string{"Bearer session-acct_1\x7f"}, 401, "invalid_session"},
		{"session with NUL", []string{"Bearer session-acct_1\x00"}, 401, "invalid_session"},
		{"session with escape", []string{"Bearer \x1b[31msession"}, 401, "invalid_session"},
		{"non-UTF-8 token", []string{"Bearer \xff\xfe\xfd"}, 401, "invalid_session"},
		{"unicode token", []string{"Bearer sk_live_ключ"}, 401, "invalid_api_key"},
		{"prefix only", []string{"Bearer sk_live_"}, 401, "invalid_api_key"},
		{"key plus a char", []string{"Bearer " + w.root + "A"}, 401, "invalid_api_key"},
		{"key minus a char", []string{"Bearer " + w.root[:len(w.root)-1]}, 401, "invalid_api_key"},
		{"key with a flipped char", []string{"Bearer " + flip(w.root, 20)}, 401, "invalid_api_key"},
		{"test key on live manager", []string{"Bearer sk_test_" + w.root[8:]}, 401, "invalid_api_key"},
		{"padding only", []string{"Bearer ===="}, 401, "invalid_session"},
		{"b64token with padding", []string{"Bearer abc=="}, 401, "invalid_session"},
		{"padding in the middle", []string{"Bearer ab=c"}, 401, "invalid_session"},
		{"session", []string{"Bearer session-acct_1"}, 200, ""},
		{"session, lower-case scheme", []string{"bearer session-acct_1"}, 200, ""},
	}
	for _, tt := range tests {
		for _, path := range []string{"/account/key", "/v1/data"} {
			t.Run(tt.name+" "+path, func(t *testing.T) {
				status, code := tt.status, tt.code
				if path == "/v1/data" && (code == "invalid_session" || strings.HasPrefix(tt.name, "session") && status == 200) {
					status, code = 401, "invalid_api_key" // data routes take API keys only
				}
				w.clock.Add(time.Second) // stay under the rate
				rec := w.do(req{path: path, auth: tt.auth})
				if code == "" {
					if rec.Code != status {
						t.Fatalf("status %d, want %d: %s", rec.Code, status, rec.Body)
					}
					return
				}
				checkError(t, rec, status, code)
			})
		}
	}
}

func flip(s string, i int) string {
	b := []byte(s)
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

// TestOddPaths: only the two exact paths are endpoints. The Handler is
// called directly, as a mux would call it for anything under /account/.
func TestOddPaths(t *testing.T) {
	w := newHostileWorld(t)
	tests := []struct {
		method, target string
		status         int
		code           string
	}{
		{"GET", "/account/key", 200, ""},
		{"GET", "/account/key?x=1&key=2", 200, ""},
		{"GET", "/account/%6Bey", 200, ""}, // %6B is "k": the same path
		{"GET", "/account/key/", 404, "not_found"},
		{"GET", "/account/key/../key", 404, "not_found"},
		{"GET", "/account/./key", 404, "not_found"},
		{"GET", "//account/key", 404, "not_found"},
		{"GET", "/account//key", 404, "not_found"},
		{"GET", "/ACCOUNT/KEY", 404, "not_found"},
		{"GET", "/account/keyz", 404, "not_found"},
		{"GET", "/account/key%00", 404, "not_found"},
		{"GET", "/account/key%20", 404, "not_found"},
		{"GET", "/account/", 404, "not_found"},
		{"GET", "/account", 404, "not_found"},
		{"GET", "/", 404, "not_found"},
		{"GET", "/account/key/reissue/", 404, "not_found"},
		{"POST", "/account/key%2Freissue", 404, "not_found"},
		{"POST", "/account/key%2freissue", 404, "not_found"},
		{"POST", "/account/key/reissue/..", 404, "not_found"},
		{"GET", "/account/key/reissue", 405, "method_not_allowed"},
		{"HEAD", "/account/key/reissue", 405, "method_not_allowed"},
		{"PUT", "/account/key", 405, "method_not_allowed"},
		{"PATCH", "/account/key", 405, "method_not_allowed"},
		{"DELETE", "/account/key", 405, "method_not_allowed"},
		{"OPTIONS", "/account/key", 405, "method_not_allowed"},
		{"TRACE", "/account/key", 405, "method_not_allowed"},
		{"CONNECT", "/account/key", 405, "method_not_allowed"},
		{"get", "/account/key", 405, "method_not_allowed"}, // methods are case-sensitive
		{"BREW", "/account/key/reissue", 405, "method_not_allowed"},
		{"DELETE", "/account/nothing", 404, "not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.target, func(t *testing.T) {
			w.clock.Add(time.Second)
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.Method = tt.method
			// ParseRequestURI, as the server does: no dot-segment removal.
			u, err := url.ParseRequestURI(tt.target)
			if err != nil {
				t.Fatal(err)
			}
			r.URL, r.RequestURI = u, tt.target
			r.Header.Set("Authorization", "Bearer "+w.root)
			rec := httptest.NewRecorder()
			w.h.ServeHTTP(rec, r)
			if tt.code == "" {
				if rec.Code != tt.status {
					t.Fatalf("status %d, want %d: %s", rec.Code, tt.status, rec.Body)
				}
				return
			}
			checkError(t, rec, tt.status, tt.code)
			if tt.status == 404 || tt.status == 405 {
				checkNoRateHeaders(t, rec) // refused before authenticating
			}
		})
	}
}

// errReader fails after a few bytes, like a connection that drops.
type errReader struct{ n int }

func (r *errReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, io.ErrUnexpectedEOF
	}
	n := min(len(p), r.n)
	r.n -= n
	return n, nil
}

// TestHostileBodies: a body is refused beyond MaxBodyBytes, whether its
// length is declared or not; below it, GET /account/key ignores it and the
// reissue route (which reads options from it, DESIGN 5.6) refuses anything
// but a JSON object of its fields with 400 invalid_request.
func TestHostileBodies(t *testing.T) {
	garbage := make([]byte, 1000)
	_, _ = rand.Read(garbage)
	tests := []struct {
		name   string
		body   func() io.Reader
		length int64 // ContentLength to declare; -1 = unknown (chunked)
		status int
		code   string
		post   int // the reissue route's status when it differs
	}{
		{"garbage", func() io.Reader { return bytes.NewReader(garbage) }, 1000, 200, "", 400},
		{"JSON", func() io.Reader { return strings.NewReader(`{"account":"someone_else"}`) }, -1, 200, "", 400},
		{"exactly the limit", func() io.Reader { return bytes.NewReader(make([]byte, 1024)) }, 1024, 200, "", 400},
		{"an object at the limit", func() io.Reader { return strings.NewReader("{" + strings.Repeat(" ", 1022) + "}") }, 1024, 200, "", 0},
		{"declared over the limit", func() io.Reader { return strings.NewReader("x") }, 1025, 413, "request_too_large", 0},
		{"chunked over the limit", func() io.Reader { return io.LimitReader(neverEnding{}, 1<<30) }, -1, 413, "request_too_large", 0},
		{"body that fails", func() io.Reader { return &errReader{n: 10} }, -1, 200, "", 400},
	}
	for _, tt := range tests {
		for _, r := range []struct{ method, path string }{{"POST", "/account/key/reissue"}, {"GET", "/account/key"}} {
			t.Run(tt.name+" "+r.method, func(t *testing.T) {
				tt := tt // this subtest's copy
				if r.method == "POST" && tt.post != 0 {
					tt.status, tt.code = tt.post, "invalid_request"
				}
				w := newHostileWorldWith(t, httpadapter.Options{MaxBodyBytes: 1024})
				hr := httptest.NewRequest(r.method, r.path, tt.body())
				hr.ContentLength = tt.length
				hr.Header.Set("Authorization", "Bearer "+w.root)
				rec := httptest.NewRecorder()
				w.mux.ServeHTTP(rec, hr)
				if tt.code == "" {
					if rec.Code != tt.status {
						t.Fatalf("status %d, want %d: %s", rec.Code, tt.status, rec.Body)
					}
					return
				}
				checkError(t, rec, tt.status, tt.code)
			})
		}
	}
}

func newHostileWorldWith(t testing.TB, opts httpadapter.Options) *hostileWorld {
	t.Helper()
	f := newFixture(t, keys.Config{}, opts)
	f.account(t, "acct_1", keys.Pro, true)
	return &hostileWorld{fixture: f, root: f.reissue(t, "acct_1").Secret}
}

type neverEnding struct{}

func (neverEnding) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'z'
	}
	return len(p), nil
}

// TestMaxBodyBytesNegative leaves the body unread: GET ignores it, and a
// reissue that carries one is refused (its options cannot be read).
func TestMaxBodyBytesNegative(t *testing.T) {
	w := newHostileWorldWith(t, httpadapter.Options{MaxBodyBytes: -1})
	for _, tt := range []struct {
		method, path string
		status       int
	}{{"GET", "/account/key", 200}, {"POST", "/account/key/reissue", 400}} {
		body := &errReader{n: 1 << 20}
		hr := httptest.NewRequest(tt.method, tt.path, body)
		hr.ContentLength = 1 << 30
		hr.Header.Set("Authorization", "Bearer "+w.root)
		rec := httptest.NewRecorder()
		w.mux.ServeHTTP(rec, hr)
		if rec.Code != tt.status || body.n != 1<<20 {
			t.Errorf("%s %s: status %d, %d bytes read", tt.method, tt.path, rec.Code, 1<<20-body.n)
		}
	}
}

// TestOverTheWire sends raw requests to a real server: what net/http lets
// through reaches the Handler and gets a clean answer; the connection
// survives a request with an ignored body.
func TestOverTheWire(t *testing.T) {
	w := newHostileWorld(t)
	srv := httptest.NewServer(w.mux)
	defer srv.Close()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	send := func(raw string) *http.Response {
		t.Helper()
		if _, err := io.WriteString(conn, raw); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(body))
		return resp
	}
	tests := []struct {
		raw    string
		status int
	}{
		{"POST /account/key/reissue HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer session-acct_1\r\nContent-Length: 11\r\n\r\n{         }", 200},
		{"GET /account/key HTTP/1.1\r\nHost: x\r\nAuthorization: bearer session-acct_1\r\n\r\n", 200},
		{"GET /account/key HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer a\r\nAuthorization: Bearer b\r\n\r\n", 401},
		{"POST /account/key/reissue HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer session-acct_1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{   }\r\n0\r\n\r\n", 200},
		{"GET /account/key/../key HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer session-acct_1\r\n\r\n", 307}, // the mux redirects to the clean path
		{"GET /account/nope HTTP/1.1\r\nHost: x\r\n\r\n", 404},
		{"DELETE /account/key HTTP/1.1\r\nHost: x\r\n\r\n", 405},
	}
	for i, tt := range tests {
		w.clock.Add(time.Second)
		resp := send(tt.raw)
		if resp.StatusCode != tt.status {
			body, _ := io.ReadAll(resp.Body)
			t.Errorf("request %d: status %d, want %d: %s", i, resp.StatusCode, tt.status, body)
		}
		if resp.StatusCode == 401 && resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("request %d: 401 without WWW-Authenticate", i)
		}
	}
	// An oversized body is refused and the connection closed, not read.
	raw := fmt.Sprintf("POST /account/key/reissue HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer session-acct_1\r\nContent-Length: %d\r\n\r\n", 1<<30)
	resp := send(raw)
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body: %d", resp.StatusCode)
	}
}
