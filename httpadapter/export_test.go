package httpadapter

// RefreshJWKS fetches v's key set now (joining a running fetch) and
// returns the fetch's error, so tests rotate keys without waiting for the
// background refresh.
func RefreshJWKS(v *JWKSVerifier) error {
	f := v.startFetch()
	<-f.done
	return f.err
}

// WaitJWKS waits for v's running fetch, if any, without starting one.
func WaitJWKS(v *JWKSVerifier) {
	v.mu.Lock()
	f := v.inflight
	v.mu.Unlock()
	if f != nil {
		<-f.done
	}
}

// JWKSLoopDone returns a channel closed once v's background refresh loop
// has returned (after the context given to NewJWKSVerifier ends).
func JWKSLoopDone(v *JWKSVerifier) <-chan struct{} { return v.loopDone }
