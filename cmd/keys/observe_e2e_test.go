package main

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// TestServeObservability runs `keys serve -log-format json` and checks its
// operational endpoints and its log, one JSON object a line.
func TestServeObservability(t *testing.T) {
	db := filepath.Join(t.TempDir(), "keys.db")
	srv := serve(t, db, "-log-format", "json")
	if code, body := call(t, "GET", srv.base+"/v1/ping", srv.secret); code != 200 {
		t.Fatalf("/v1/ping: %d %v", code, body)
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if code, body := call(t, "GET", srv.base+path, ""); code != 200 || body["status"] != "ok" {
			t.Errorf("%s: %d %v", path, code, body)
		}
	}
	if code, body := call(t, "POST", srv.base+"/metrics", ""); code != http.StatusMethodNotAllowed || errorCode(body) == "" {
		t.Errorf("POST /metrics: %d %v, want a JSON 405", code, body)
	}
	resp, err := http.Get(srv.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	ok := false
	for _, m := range fams["keys_authentications_total"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "keys_outcome" && l.GetValue() == "ok" && m.GetCounter().GetValue() >= 1 {
				ok = true
			}
		}
	}
	if !ok {
		t.Errorf("/metrics does not count the ping's authentication: %v", fams["keys_authentications_total"])
	}
	srv.stop(t)

	access := 0
	for _, line := range strings.Split(strings.TrimSpace(srv.stderr.String()), "\n") {
		var v map[string]any
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("log line %q is not JSON: %v", line, err)
		}
		if v["msg"] == "http request" && v["route"] == "/v1/ping" {
			access++
			if v["status"] != float64(200) || v["method"] != "GET" || v["key_id"] == nil {
				t.Errorf("access log line %v", v)
			}
		}
	}
	if access != 1 {
		t.Errorf("%d access log lines for /v1/ping, want 1:\n%s", access, srv.stderr)
	}
}

func TestServeBadLogFormat(t *testing.T) {
	db := filepath.Join(t.TempDir(), "keys.db")
	for _, c := range []struct {
		vars map[string]string
		args []string
	}{
		{map[string]string{"KEYS_LOG_FORMAT": "xml"}, nil},
		{nil, []string{"-log-format", "yaml"}},
	} {
		code, _, errOut := runEnv(t, c.vars, "", append([]string{"serve", "-db", db, "-addr", "127.0.0.1:0"}, c.args...)...)
		if code != exitUsage || !strings.Contains(errOut, "log format") {
			t.Errorf("%v %v: exit %d: %s", c.vars, c.args, code, errOut)
		}
	}
}
