package keys

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Spans: one around each store call (keys.store) and one around each
// change of keys (keys.IssueChild, keys.Reissue, keys.ReissueFrom,
// keys.Revoke, keys.RevokeLeaked), whose store calls are its children. A
// warm Authenticate or Allow makes no span: it does not touch the store,
// and a span would cost it allocations and several times its time.

const spanStore = "keys.store"

// tracing holds the Manager's tracer.
type tracing struct {
	tracer trace.Tracer
}

func newTracing(tp trace.TracerProvider) tracing {
	if tp == nil {
		tp = noop.NewTracerProvider()
	}
	return tracing{tracer: tp.Tracer(meterName)}
}

// storeCall starts the span and the clock of one store call on ctx, then
// bounds it as bound does; the returned func ends all three. The span and
// the keys.store.duration point carry error.type "timeout" or "canceled"
// when the call's context ended before it returned (the store's own
// errors are its caller's to report).
func (t *telemetry) storeCall(ctx context.Context, bound func(context.Context) (context.Context, context.CancelFunc)) (context.Context, context.CancelFunc) {
	start := time.Now()
	ctx, span := t.tracer.Start(ctx, spanStore, trace.WithSpanKind(trace.SpanKindClient))
	sctx, cancel := bound(ctx)
	return sctx, func() {
		errType := ""
		switch err := sctx.Err(); {
		case errors.Is(err, context.DeadlineExceeded):
			errType = "timeout"
		case err != nil:
			errType = "canceled"
		}
		cancel()
		d := time.Since(start).Seconds()
		if errType == "" {
			t.storeDur.Record(ctx, d)
		} else {
			attr := attribute.String(attrErrorType, errType)
			t.storeDur.Record(ctx, d, metric.WithAttributes(attr))
			span.SetAttributes(attr)
			span.SetStatus(codes.Error, errType)
		}
		span.End()
	}
}

// opSpan is the span of one change of keys; the zero opSpan (no
// telemetry) does nothing.
type opSpan struct{ span trace.Span }

// startOp starts the span named name (keys.Reissue, ...) on ctx.
func (m *Manager) startOp(ctx context.Context, name string) (context.Context, opSpan) {
	if m.tel == nil {
		return ctx, opSpan{}
	}
	ctx, s := m.tel.tracer.Start(ctx, name)
	return ctx, opSpan{s}
}

// end ends the span, marking it failed with the error's text if *err is
// set. The Manager's errors never carry a secret (see the package doc).
func (s opSpan) end(err *error) {
	if s.span == nil {
		return
	}
	if *err != nil {
		s.span.RecordError(*err)
		s.span.SetStatus(codes.Error, (*err).Error())
	}
	s.span.End()
}
