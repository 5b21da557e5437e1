package httpadapter

import (
	"net/http"
	"strings"

	"github.com/keyward/keys/internal/ui"
)

// ScriptURL is the path of the <keys-manager> web component's script, with
// its content hash in the name, for a host page's
//
//	<script type="module" src="{{.ScriptURL}}"></script>
//	<keys-manager base-path="/api"></keys-manager>
//
// The script is served by the Handler under {BasePath}/account/ui/, to
// anyone (it holds no account data), cached for a year under this name and
// revalidated under {BasePath}/account/ui/keys.js. It needs no inline script
// or style, so it runs under a Content-Security-Policy of
// "script-src 'self'; style-src 'self'".
func (h *Handler) ScriptURL() string { return h.uiPrefix + ui.HashedName() }

// serveUI serves the component's script; it reports whether path was
// under the UI prefix.
func (h *Handler) serveUI(w http.ResponseWriter, r *http.Request, path string) bool {
	name, ok := strings.CutPrefix(path, h.uiPrefix)
	if !ok {
		return false
	}
	if name != ui.HashedName() && name != ui.PlainName {
		h.fail(w, r, errNotFound())
		return true
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.fail(w, r, errMethodNotAllowed("GET, HEAD"))
		return true
	}
	ui.Serve(w, r, name)
	return true
}
