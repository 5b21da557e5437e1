package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/keyward/keys"
	"github.com/keyward/keys/store"
)

// serve's operational endpoints, its logger and its access log.

// readyTimeout bounds /readyz's store round trip: a load balancer polls it
// every few seconds and wants an answer, not a hung connection.
const readyTimeout = 2 * time.Second

// readyProbeAccount is the account /readyz asks the store for. It need not
// exist: "not found" is an answer, and an answer is what ready means.
const readyProbeAccount = "keys-readyz-probe"

// newLogger returns serve's logger: slog's text handler ("text" or "") or
// its JSON handler ("json"), writing to w.
func newLogger(format string, w io.Writer) (*slog.Logger, error) {
	switch format {
	case "", "text":
		return slog.New(slog.NewTextHandler(w, nil)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, nil)), nil
	}
	return nil, fmt.Errorf("log format %q: want text or json", format)
}

// newMetrics returns a MeterProvider whose metrics /metrics serves in the
// Prometheus text format, through OpenTelemetry's Prometheus exporter and
// a registry of serve's own (no Go runtime metrics of the default one).
func newMetrics() (*sdkmetric.MeterProvider, http.Handler, error) {
	reg := prometheus.NewRegistry()
	exp, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		return nil, nil, fmt.Errorf("metrics: %w", err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp))
	return mp, promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), nil
}

// healthz answers 200 while the process serves: liveness, nothing more.
func healthz(w http.ResponseWriter, _ *http.Request) {
	writeStatus(w, http.StatusOK, "ok")
}

// readyz answers 200 when the store answers a read within readyTimeout,
// else 503 (the cause is logged, never sent).
func readyz(st store.Store, log *slog.Logger) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		defer cancel()
		_, err := st.Account(ctx, readyProbeAccount)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			log.Warn("keys: not ready: the store did not answer", "err", err)
			writeStatus(w, http.StatusServiceUnavailable, "unavailable")
			return
		}
		writeStatus(w, http.StatusOK, "ok")
	}
}

func writeStatus(w http.ResponseWriter, code int, status string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"status": status})
}

// accessRecord collects what the access log line says beyond the request
// itself; the handlers fill it in through the request's context.
type accessRecord struct {
	keyID string
}

type accessKey struct{}

// noteKey is httpadapter's Options.OnAuthenticated: it records the ID of
// the request's API key for the access log (the ID, never the token).
func noteKey(r *http.Request, k keys.Key) {
	if rec, ok := r.Context().Value(accessKey{}).(*accessRecord); ok {
		rec.keyID = k.ID.String()
	}
}

// statusWriter remembers the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the server's writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// accessLog logs one line per request at Info: method, route (the mux
// pattern that matched, not the raw path, so that IDs in paths do not
// flood a log index; "" when none did), status, duration in seconds and
// the API key's ID (key_id) when one authenticated. Tokens and query strings are
// never logged.
func accessLog(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &accessRecord{}
		r = r.WithContext(context.WithValue(r.Context(), accessKey{}, rec))
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			status := sw.status
			if status == 0 {
				status = http.StatusOK
			}
			// The mux records the pattern in the request it was given,
			// which is r.
			attrs := [5]slog.Attr{
				slog.String("method", r.Method),
				slog.String("route", r.Pattern),
				slog.Int("status", status),
				slog.Float64("duration", time.Since(start).Seconds()),
			}
			n := 4
			if rec.keyID != "" {
				attrs[n] = slog.String("key_id", rec.keyID)
				n++
			}
			log.LogAttrs(r.Context(), slog.LevelInfo, "http request", attrs[:n]...)
		}()
		next.ServeHTTP(sw, r)
	})
}
