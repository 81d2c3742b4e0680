package slides

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A minimal W3C WebDriver client for Debian's chromium + chromedriver: enough to open pages, run scripts, switch
// windows and take screenshots, with no dependency beyond net/http.

const (
	driverStartLimit = 20 * time.Second // chromedriver and a first Chromium session come up well within this
	callLimit        = 30 * time.Second // one WebDriver command
	pollEvery        = 50 * time.Millisecond
	driverExitLimit  = 2 * time.Second // chromedriver's output is read this long after it was killed
)

// chromeArgs start Chromium headless without reaching for the network (the machine has none) and with a fresh
// profile; the user-data-dir is appended per session.
var chromeArgs = []string{
	"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
	"--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
	"--window-size=1280,800", "--hide-scrollbars",
}

// browser is one WebDriver session on a chromedriver the test started. Not safe for concurrent use.
type browser struct {
	t       testing.TB
	base    string // http://127.0.0.1:<port>
	session string
	client  *http.Client
}

// freePort returns a TCP port on 127.0.0.1 that nothing listens on right now (chromedriver's --port=0 does not
// say which port it chose).
func freePort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// startBrowser starts chromedriver on a free port and opens a session of the Chromium at chromium. Both end with
// the test; chromedriver's output goes to the test log when the test fails.
func startBrowser(t testing.TB, chromedriver, chromium string) *browser {
	t.Helper()
	port := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, chromedriver, "--port="+port)
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	cmd.WaitDelay = driverExitLimit // Chromium's children may hold the output pipe after chromedriver is gone
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start %s: %v", chromedriver, err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("chromedriver said:\n%s", log.String())
		}
	})
	b := &browser{t: t, base: "http://127.0.0.1:" + port, client: &http.Client{Timeout: callLimit}}
	b.waitReady()
	b.newSession(chromium)
	return b
}

func (b *browser) waitReady() {
	b.t.Helper()
	deadline := time.Now().Add(driverStartLimit)
	for {
		var status struct {
			Ready bool `json:"ready"`
		}
		if err := b.call(http.MethodGet, "/status", nil, &status); err == nil && status.Ready {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("chromedriver at %s was not ready within %s", b.base, driverStartLimit)
		}
		time.Sleep(pollEvery)
	}
}

func (b *browser) newSession(chromium string) {
	b.t.Helper()
	args := append(append([]string{}, chromeArgs...), "--user-data-dir="+b.t.TempDir())
	caps := map[string]any{"capabilities": map[string]any{"alwaysMatch": map[string]any{
		"browserName": "chrome",
		// Commands do not wait for a page to finish loading: reveal.js's speaker view is a document.write() into a
		// popup that never closes its document, so it never "loads". Callers wait for what they need instead.
		"pageLoadStrategy":   "none",
		"goog:chromeOptions": map[string]any{"binary": chromium, "args": args},
	}}}
	var created struct {
		SessionID string `json:"sessionId"`
	}
	if err := b.call(http.MethodPost, "/session", caps, &created); err != nil {
		b.t.Fatalf("open a Chromium session (%s): %v", chromium, err)
	}
	b.session = created.SessionID
	b.t.Cleanup(func() { _ = b.call(http.MethodDelete, "/session/"+b.session, nil, nil) })
}

// call sends one WebDriver command and decodes its "value" into out (when not nil).
func (b *browser) call(method, path string, body, out any) error {
	var r io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, b.base+path, r)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := b.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var env struct {
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(data, &env); err != nil {
		return fmt.Errorf("%s %s: answer is not JSON: %.200s", method, path, data)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %s: %.400s", method, path, resp.Status, env.Value)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(env.Value, out)
}

func (b *browser) cmd(method, path string, body, out any) {
	b.t.Helper()
	if err := b.call(method, "/session/"+b.session+path, body, out); err != nil {
		b.t.Fatal(err)
	}
}

// open navigates the current window to url.
func (b *browser) open(url string) {
	b.t.Helper()
	b.cmd(http.MethodPost, "/url", map[string]string{"url": url}, nil)
}

// eval runs a script (a function body: `return …`) in the current window and decodes its result into out.
func (b *browser) eval(script string, out any) {
	b.t.Helper()
	b.cmd(http.MethodPost, "/execute/sync", map[string]any{"script": script, "args": []any{}}, out)
}

// waitTrue runs script until it returns true, for at most limit; it fails the test with what, and the last value
// the script returned, when it never does.
func (b *browser) waitTrue(limit time.Duration, what, script string) {
	b.t.Helper()
	deadline := time.Now().Add(limit)
	for {
		var ok bool
		err := b.call(http.MethodPost, "/session/"+b.session+"/execute/sync", map[string]any{"script": script, "args": []any{}}, &ok)
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("%s: not true within %s (last error: %v)", what, limit, err)
		}
		time.Sleep(pollEvery)
	}
}

// windows returns the handles of the session's windows.
func (b *browser) windows() []string {
	b.t.Helper()
	var hs []string
	b.cmd(http.MethodGet, "/window/handles", nil, &hs)
	return hs
}

func (b *browser) switchTo(handle string) {
	b.t.Helper()
	b.cmd(http.MethodPost, "/window", map[string]string{"handle": handle}, nil)
}

// screenshot saves a PNG of the current window to path.
func (b *browser) screenshot(path string) {
	b.t.Helper()
	var data string
	b.cmd(http.MethodGet, "/screenshot", nil, &data)
	png, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		b.t.Fatalf("screenshot is not base64: %v", err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// plain strips markdown emphasis and code marks and folds white space, so a note's text can be compared with what
// the browser renders from it.
func plain(s string) string {
	s = strings.NewReplacer("`", "", "*", "", "_", "", "“", "\"", "”", "\"").Replace(s)
	return strings.Join(strings.Fields(s), " ")
}
