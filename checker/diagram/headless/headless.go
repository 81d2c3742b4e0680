// Package headless starts Debian's Chromium without a screen for the checker's browser tests (the SVG diagram, the
// room page). Chromium runs with the flags this kind of machine needs (no sandbox as root, no background networking)
// and a fresh profile per test.
package headless

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Timeout bounds one browser test: starting Chromium, loading the page and every wait in it.
const Timeout = 60 * time.Second

// candidates are where Chromium is looked for, in order (MSGLABS_CHROMIUM first).
var candidates = []string{"chromium", "chromium-browser", "google-chrome"}

// Find returns the Chromium executable, or "" when there is none.
func Find() string {
	if p := os.Getenv("MSGLABS_CHROMIUM"); p != "" {
		return p
	}
	for _, c := range candidates {
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	return ""
}

// New starts a headless Chromium for the test and returns a browser context for chromedp.Run, cancelled (and the
// browser stopped) at cleanup. Without Chromium the test is skipped, except under CI=true where it fails: CI installs
// the Debian packages chromium and chromium-driver, so a missing browser there is a broken set-up, not a pass.
func New(t testing.TB, width, height int) context.Context {
	t.Helper()
	exe := Find()
	if exe == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("Chromium is not installed: `apt-get install -y chromium chromium-driver` (the browser tests need it)")
		}
		t.Skip("Chromium is not installed (apt-get install -y chromium chromium-driver); skipping the browser test")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(width, height),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("hide-scrollbars", true),
	}
	ctx, cancelTimeout := context.WithTimeout(context.Background(), Timeout)
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	browser, cancelBrowser := chromedp.NewContext(alloc)
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc()
		cancelTimeout()
	})
	if err := chromedp.Do(browser); err != nil { // starts the browser
		t.Fatalf("start Chromium (%s): %v", exe, err)
	}
	return browser
}
