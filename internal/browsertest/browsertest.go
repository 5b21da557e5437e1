package browsertest

import (
	"context"
	"os"
	"os/exec"
	"testing"

	"github.com/chromedp/chromedp"
)

// Path returns the browser to run: $KEYS_TEST_CHROMIUM, else chromium (or
// chromium-browser, google-chrome) on $PATH. Without one it skips the test
// with a message saying how to run it, or fails it when $KEYS_TEST_BROWSER
// is set (as .ci/run sets it).
func Path(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("KEYS_TEST_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("KEYS_TEST_BROWSER") != "" {
		t.Fatal("KEYS_TEST_BROWSER is set but no chromium was found (apt-get install -y chromium)")
	}
	t.Skip("no chromium found: apt-get install -y chromium (or set KEYS_TEST_CHROMIUM) to run the browser tests")
	return ""
}

// Start starts a headless browser for the test and returns its chromedp
// context; the browser stops when the test ends. The flags keep Chromium
// off the network (this machine has none) and out of the user's profile.
func Start(t testing.TB) context.Context {
	t.Helper()
	if testing.Short() {
		t.Skip("browser tests skipped in -short mode")
	}
	exe := Path(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1280, 900),
	)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelB := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelB(); cancelA() })
	// The first run starts the browser; it must not carry a timeout, which
	// would stop the whole browser (chromedp.Run's doc).
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("starting %s: %v", exe, err)
	}
	return bctx
}
