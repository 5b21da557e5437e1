package httpadapter

import (
	"net/http"

	"github.com/keyward/keys"
)

// authenticated tells Options.OnAuthenticated that r's API key k
// authenticated. Without a hook it is one nil check on the hot path.
func (h *Handler) authenticated(r *http.Request, k *keys.Key) {
	if h.onAuth != nil {
		h.onAuth(r, *k)
	}
}
