package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/keyward/keys/internal/browsertest"
)

// TestDemoPageInBrowser runs the README's first command as a newcomer
// would (a new database) and opens the page it announces: the key page
// shows the demo account's root key through the page's cookie session.
func TestDemoPageInBrowser(t *testing.T) {
	bctx := browsertest.Start(t)
	s := serve(t, filepath.Join(t.TempDir(), "keys.db"))
	defer s.stop(t)
	// Generous: CI runs this beside every other package's tests on 2
	// cores, where a page load can stall for seconds; a page that never
	// renders still fails.
	ctx, cancel := context.WithTimeout(bctx, 2*time.Minute)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(s.base+"/")); err != nil {
		t.Fatal(err)
	}
	const sr = `document.querySelector("keys-manager").shadowRoot`
	// Rendered: either the root key's card or an error.
	_, err := chromedp.Run(ctx, chromedp.Poll[bool](`!!`+sr+` && !!(`+sr+`.querySelector(".card") || `+sr+`.querySelector(".err"))`,
		chromedp.WithPollingTimeout(90*time.Second)))
	if err != nil {
		t.Fatalf("the page never rendered: %v; server log:\n%s", err, s.stderr)
	}
	text, err := chromedp.Run(ctx, chromedp.Evaluate[string](sr+`.textContent`))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(text, "not signed in") || !strings.Contains(text, "Root key") || !strings.Contains(text, "Active") {
		t.Fatalf("the demo page does not show the demo account's root key:\n%s", text)
	}
	if s.secret == "" || strings.Contains(text, s.secret) {
		t.Fatal("the page shows the root key's secret (or none was printed)")
	}
}
