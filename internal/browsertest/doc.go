// Package browsertest starts headless Chromium for tests through chromedp:
// the browser tests of the key page (internal/ui) and of keys serve's demo
// page (cmd/keys). It is for tests only.
package browsertest
