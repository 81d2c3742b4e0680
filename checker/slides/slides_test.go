package slides

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fixtureKit writes a kit with an agenda of two decks (in the order second, first), one deck the agenda lacks, and
// no lab. reveal.js is installed only when withReveal.
func fixtureKit(t testing.TB, withReveal bool) string {
	t.Helper()
	root := t.TempDir()
	files := map[string]string{
		"slides/agenda.yaml": "days:\n  - title: One\n    start: \"09:00\"\n    end: \"17:00\"\n    blocks:\n" +
			"      - deck: second\n        minutes: 10\n      - deck: first\n        minutes: 5\n",
		"slides/first.md":    "# The first\n\n*5 minutes*\n\nNote: Hidden words.\n",
		"slides/second.md":   "# The second\n\n*10 minutes*\n",
		"slides/extra.md":    "# Extra\n",
		"labs/.keep":         "",
		"outside/secret.md":  "# not a deck\n",
		"slides/README.md":   "not a deck either",
		"slides/sub/deep.md": "# nor this",
	}
	if withReveal {
		files[RevealDir+"/dist/reveal.js"] = "/* reveal */"
	}
	for rel, content := range files {
		path := filepath.Join(root, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func get(t testing.TB, srv *httptest.Server, path string) (int, string) {
	t.Helper()
	resp, err := http.Get(srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

func TestIndexListsDecksInAgendaOrderThenTheRest(t *testing.T) {
	root := fixtureKit(t, true)
	entries, err := Index(root)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name+"@"+e.Start)
	}
	if want := "second@09:00 first@09:10 extra@"; strings.Join(got, " ") != want {
		t.Errorf("index order %q, want %q (agenda order, then decks the agenda lacks)", strings.Join(got, " "), want)
	}
	srv := httptest.NewServer(New(root))
	defer srv.Close()
	code, body := get(t, srv, "/")
	if code != http.StatusOK || strings.Index(body, `data-deck="second"`) > strings.Index(body, `data-deck="first"`) {
		t.Errorf("GET / = %d; want 200 listing second before first:\n%s", code, body)
	}
	if !strings.Contains(body, "not in the agenda") || strings.Contains(body, "reveal-missing") {
		t.Errorf("GET / should mark extra as not in the agenda and not warn about reveal.js:\n%s", body)
	}
}

func TestDeckPageLoadsTheMarkdownWithNotesAndTiming(t *testing.T) {
	srv := httptest.NewServer(New(fixtureKit(t, true)))
	defer srv.Close()
	code, body := get(t, srv, "/deck/first")
	for _, want := range []string{`data-markdown="/md/first.md"`, `data-separator-notes="^Note:"`, "totalTime:  300 ,", "RevealNotes", "<title>The first</title>"} {
		if code != http.StatusOK || !strings.Contains(body, want) {
			t.Errorf("GET /deck/first = %d, lacks %q:\n%s", code, want, body)
		}
	}
	code, md := get(t, srv, "/md/first.md")
	if code != http.StatusOK || !strings.Contains(md, "Note: Hidden words.") {
		t.Errorf("GET /md/first.md = %d %q; want the deck's markdown as written", code, md)
	}
	code, js := get(t, srv, "/reveal/reveal.js")
	if code != http.StatusOK || js != "/* reveal */" {
		t.Errorf("GET /reveal/reveal.js = %d %q; want the installed file", code, js)
	}
}

func TestOnlyDecksAreServed(t *testing.T) {
	srv := httptest.NewServer(New(fixtureKit(t, true)))
	defer srv.Close()
	for _, path := range []string{"/deck/nope", "/md/README.md", "/md/..%2Foutside%2Fsecret.md", "/deck/..%2Foutside%2Fsecret", "/md/first", "/md/sub%2Fdeep.md"} {
		if code, body := get(t, srv, path); code != http.StatusNotFound {
			t.Errorf("GET %s = %d; want 404, only slides/*.md decks are served:\n%s", path, code, body)
		}
	}
}

func TestWithoutRevealTheDeckSaysHowToInstallIt(t *testing.T) {
	root := fixtureKit(t, false)
	srv := httptest.NewServer(New(root))
	defer srv.Close()
	code, body := get(t, srv, "/deck/first")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "make prepare") || strings.Contains(body, "reveal.js\"></script>") {
		t.Errorf("GET /deck/first without reveal.js = %d; want 503 saying `make prepare`:\n%s", code, body)
	}
	if _, body := get(t, srv, "/"); !strings.Contains(body, "make prepare") {
		t.Errorf("the index does not say reveal.js is missing:\n%s", body)
	}
	if err := RevealInstalled(root); err == nil || !strings.Contains(err.Error(), RevealDir) {
		t.Errorf("RevealInstalled = %v; want an error naming %s", err, RevealDir)
	}
}
