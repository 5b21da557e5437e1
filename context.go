package keys

import "context"

type contextKey struct{}

// NewContext returns a copy of ctx that carries k, for handlers behind an
// authenticating middleware.
func NewContext(ctx context.Context, k Key) context.Context {
	return context.WithValue(ctx, contextKey{}, k)
}

// FromContext returns the key NewContext stored in ctx, if any.
func FromContext(ctx context.Context) (Key, bool) {
	k, ok := ctx.Value(contextKey{}).(Key)
	return k, ok
}
