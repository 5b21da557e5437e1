package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/keyward/keys"
	"github.com/keyward/keys/httpadapter"
	"github.com/keyward/keys/memstore"
	"github.com/keyward/keys/store"
)

// scrape GETs /metrics from h and parses it with the Prometheus text
// parser.
func scrape(t *testing.T, h http.Handler) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("/metrics: %d", rec.Code)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return fams
}

// counter returns the value of the family's sample whose label has value.
func counter(t *testing.T, fams map[string]*dto.MetricFamily, name, label, value string) float64 {
	t.Helper()
	f, ok := fams[name]
	if !ok {
		t.Fatalf("/metrics has no %s", name)
	}
	if f.GetType() != dto.MetricType_COUNTER {
		t.Fatalf("%s is a %v, want a counter", name, f.GetType())
	}
	for _, m := range f.GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == label && l.GetValue() == value {
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("%s has no sample with %s=%q", name, label, value)
	return 0
}

func TestMetricsEndpointCountersMove(t *testing.T) {
	mp, h, err := newMetrics()
	if err != nil {
		t.Fatal(err)
	}
	defer mp.Shutdown(context.Background())
	m, err := keys.New(memstore.New(), keys.Config{MeterProvider: mp})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx := context.Background()
	if err := m.CreateAccount(ctx, keys.Account{ID: "acme", Tier: keys.Pro, EmailVerified: true}); err != nil {
		t.Fatal(err)
	}
	iss, err := m.Reissue(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}

	before := scrape(t, h)
	for range 3 {
		k, err := m.Authenticate(ctx, iss.Secret)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := m.Allow(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := m.Authenticate(ctx, "sk_live_garbage"); err == nil {
		t.Fatal("garbage authenticated")
	}
	after := scrape(t, h)
	for _, c := range []struct {
		name, label, value string
		delta              float64
	}{
		{"keys_authentications_total", "keys_outcome", "ok", 3},
		{"keys_authentications_total", "keys_outcome", "malformed", 1},
		{"keys_authentications_total", "keys_outcome", "revoked", 0},
		{"keys_decisions_total", "keys_outcome", "allowed", 3},
		{"keys_decisions_total", "keys_outcome", "rate_limited", 0},
		{"keys_cache_lookups_total", "keys_cache_result", "hit", 2},
		{"keys_cache_lookups_total", "keys_cache_result", "miss", 1},
	} {
		got := counter(t, after, c.name, c.label, c.value) - counter(t, before, c.name, c.label, c.value)
		if got != c.delta {
			t.Errorf("%s{%s=%q} moved by %v, want %v", c.name, c.label, c.value, got, c.delta)
		}
	}
	hist, ok := after["keys_store_duration_seconds"]
	if !ok || hist.GetType() != dto.MetricType_HISTOGRAM || len(hist.GetMetric()) == 0 ||
		hist.GetMetric()[0].GetHistogram().GetSampleCount() == 0 {
		t.Errorf("keys_store_duration_seconds: %v, want a histogram with samples", hist)
	}
}

// downStore fails every read, like a database that is gone.
type downStore struct{ store.Store }

func (downStore) Account(context.Context, string) (store.Account, error) {
	return store.Account{}, errors.New("dial tcp 10.0.0.1:5432: connection refused")
}

func TestReadyz(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	for _, c := range []struct {
		st     store.Store
		code   int
		status string
	}{
		{memstore.New(), http.StatusOK, "ok"},
		{downStore{memstore.New()}, http.StatusServiceUnavailable, "unavailable"},
	} {
		rec := httptest.NewRecorder()
		readyz(c.st, log).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		var body map[string]string
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatalf("/readyz body %q: %v", rec.Body, err)
		}
		if rec.Code != c.code || body["status"] != c.status || len(body) != 1 {
			t.Errorf("/readyz: %d %v, want %d status %q", rec.Code, body, c.code, c.status)
		}
		if strings.Contains(rec.Body.String(), "refused") {
			t.Error("/readyz sent the store's error to the client")
		}
	}
	if !strings.Contains(logs.String(), "connection refused") {
		t.Errorf("the store's error was not logged: %s", logs.String())
	}
}

func TestHealthz(t *testing.T) {
	rec := httptest.NewRecorder()
	healthz(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if rec.Code != http.StatusOK || strings.TrimSpace(rec.Body.String()) != `{"status":"ok"}` {
		t.Errorf("/healthz: %d %s", rec.Code, rec.Body)
	}
}

// TestAccessLog serves requests through the access log with a JSON
// logger, as serve wires them, and reads the lines back.
func TestAccessLog(t *testing.T) {
	var logs syncBuffer
	log, err := newLogger("json", &logs)
	if err != nil {
		t.Fatal(err)
	}
	m, err := keys.New(memstore.New(), keys.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx := context.Background()
	if err := m.CreateAccount(ctx, keys.Account{ID: "acme", Tier: keys.Pro, EmailVerified: true}); err != nil {
		t.Fatal(err)
	}
	iss, err := m.Reissue(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	h := httpadapter.New(m, httpadapter.Options{OnAuthenticated: noteKey})
	mux := http.NewServeMux()
	mux.Handle("/account/", h)
	mux.Handle("/v1/ping", onlyMethods("GET, HEAD", h.RequireKey(http.HandlerFunc(ping))))
	mux.Handle("/", notFound)
	srv := accessLog(log, jsonPaths([]string{"/account"}, mux))

	for _, c := range []struct{ method, path, token string }{
		{http.MethodGet, "/v1/ping?secret=x", iss.Secret},
		{http.MethodGet, "/account/key", iss.Secret},
		{http.MethodGet, "/v1/ping", "sk_live_garbage"},
		{http.MethodGet, "/nowhere/42", ""},
	} {
		r := httptest.NewRequest(c.method, c.path, nil)
		if c.token != "" {
			r.Header.Set("Authorization", "Bearer "+c.token)
		}
		srv.ServeHTTP(httptest.NewRecorder(), r)
	}

	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var v map[string]any
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatalf("log line %q is not JSON: %v", l, err)
		}
		if v["msg"] == "http request" {
			lines = append(lines, v)
		}
	}
	want := []struct {
		route  string
		status float64
		keyID  string
	}{
		{"/v1/ping", 200, iss.Key.ID.String()},
		{"/account/", 200, iss.Key.ID.String()},
		{"/v1/ping", 401, ""},
		{"/", 404, ""},
	}
	if len(lines) != len(want) {
		t.Fatalf("%d access log lines, want %d: %s", len(lines), len(want), logs.String())
	}
	for i, w := range want {
		l := lines[i]
		if l["method"] != "GET" || l["route"] != w.route || l["status"] != w.status || l["level"] != "INFO" {
			t.Errorf("line %d: %v, want route %q status %v", i, l, w.route, w.status)
		}
		if d, ok := l["duration"].(float64); !ok || d < 0 || d > 10 {
			t.Errorf("line %d: duration %v, want seconds", i, l["duration"])
		}
		if id, _ := l["key_id"].(string); id != w.keyID {
			t.Errorf("line %d: key_id %q, want %q", i, id, w.keyID)
		}
	}
	if out := logs.String(); strings.Contains(out, "sk_live_") || strings.Contains(out, "secret=x") {
		t.Errorf("the access log holds a token or a query string: %s", out)
	}
}

func TestLogFormat(t *testing.T) {
	var buf bytes.Buffer
	log, err := newLogger("text", &buf)
	if err != nil {
		t.Fatal(err)
	}
	log.Info("hello", "n", 1)
	if !strings.Contains(buf.String(), "msg=hello n=1") {
		t.Errorf("text log: %q", buf.String())
	}
	if _, err := newLogger("xml", &buf); err == nil {
		t.Error("log format xml accepted")
	}
}
