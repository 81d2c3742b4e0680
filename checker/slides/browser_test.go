package slides

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"msglabs/checker/agenda"
)

const (
	renderLimit  = 20 * time.Second // reveal.js fetches and renders a deck well within this, even on a busy machine
	speakerLimit = 20 * time.Second // the speaker view opens, loads its two previews and shows the notes

	speakerWidth, speakerHeight = 1280, 800 // the speaker view's window, as on an instructor's laptop
)

// browserDeck is the deck the browser test presents: the one that opens the workshop.
const browserDeck = "00-intro"

// kitRoot is the kit this package lives in.
func kitRoot(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("kit root %s has no go.mod: %v", root, err)
	}
	return root
}

// artefacts is where the browser test keeps its screenshots: $MSGLABS_ARTEFACTS, else .msglabs/artefacts under the
// kit root (git-ignored).
func artefacts(t testing.TB, root string) string {
	t.Helper()
	dir := os.Getenv("MSGLABS_ARTEFACTS")
	if dir == "" {
		dir = filepath.Join(root, ".msglabs", "artefacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// needBrowser returns chromedriver's and Chromium's paths, or skips the test with one line saying what to install.
func needBrowser(t testing.TB, root string) (driver, chromium string) {
	t.Helper()
	driver, err1 := exec.LookPath("chromedriver")
	chromium, err2 := exec.LookPath("chromium")
	if err1 != nil || err2 != nil {
		t.Skip("skipped: Chromium and chromedriver are not installed (apt-get install -y chromium chromium-driver)")
	}
	if err := RevealInstalled(root); err != nil {
		t.Skipf("skipped: %v", err)
	}
	return driver, chromium
}

// TestDecksRenderInChromium serves the kit's own decks, opens the index and a deck in headless Chromium, and checks
// that the deck renders slide by slide from its markdown, that its presenter notes are on no slide the audience
// sees, and that the speaker view shows them with a timer. Screenshots of a slide and of the speaker view are kept.
func TestDecksRenderInChromium(t *testing.T) {
	root := kitRoot(t)
	driver, chromium := needBrowser(t, root)
	dir := artefacts(t, root)
	srv := httptest.NewServer(New(root))
	t.Cleanup(srv.Close)
	b := startBrowser(t, driver, chromium)

	checkIndex(t, b, srv.URL, root)
	deck, err := agenda.LoadDeck(root, browserDeck)
	if err != nil {
		t.Fatal(err)
	}
	const shown = 2 // the third slide: past the title and the objectives, with a body of its own
	checkDeck(t, b, srv.URL, deck, shown)
	slidePNG := filepath.Join(dir, "slide.png")
	b.screenshot(slidePNG)
	checkSpeakerView(t, b, deck, shown)
	speakerPNG := filepath.Join(dir, "speaker-view.png")
	b.screenshot(speakerPNG)
	t.Logf("screenshots: %s, %s", slidePNG, speakerPNG)
}

// checkIndex opens the index and checks it lists every deck, in the order Index gives (the agenda's).
func checkIndex(t *testing.T, b *browser, base, root string) {
	t.Helper()
	b.open(base + "/")
	b.waitTrue(renderLimit, "the index loaded", `return document.readyState === "complete" && document.getElementById("decks") !== null;`)
	var listed []string
	b.eval(`return [...document.querySelectorAll("#decks tr.deck")].map(r => r.dataset.deck);`, &listed)
	entries, _ := Index(root)
	var want []string
	for _, e := range entries {
		want = append(want, e.Name)
	}
	if strings.Join(listed, " ") != strings.Join(want, " ") {
		t.Errorf("the index lists\n  %v\nwant every deck in agenda order\n  %v", listed, want)
	}
	var missing bool
	b.eval(`return document.getElementById("reveal-missing") !== null;`, &missing)
	if missing {
		t.Errorf("the index says reveal.js is missing, though RevealInstalled found it")
	}
}

// checkDeck opens slide shown of deck and checks what the audience sees: every slide of the markdown became a
// slide, the current one shows its own title, and no presenter note is visible.
func checkDeck(t *testing.T, b *browser, base string, deck agenda.Deck, shown int) {
	t.Helper()
	b.open(base + "/deck/" + deck.Name + "#/" + strconv.Itoa(shown))
	b.waitTrue(renderLimit, "deck "+deck.Name+" rendered by reveal.js",
		`return typeof Reveal !== "undefined" && Reveal.isReady() && Reveal.getIndices().h === `+strconv.Itoa(shown)+`;`)
	var count int
	b.eval(`return document.querySelectorAll(".reveal .slides > section").length;`, &count)
	if count != len(deck.Slides) {
		t.Fatalf("deck %s rendered %d slides; its markdown has %d", deck.Name, count, len(deck.Slides))
	}
	var title string
	b.eval(`const h = document.querySelector(".reveal .slides > section.present").querySelector("h1, h2"); return h ? h.textContent : "";`, &title)
	if plain(title) != plain(deck.Slides[shown].Title) {
		t.Errorf("slide %d shows the title %q; the markdown's is %q", shown+1, title, deck.Slides[shown].Title)
	}
	var visible string
	b.eval(`return document.querySelector(".reveal .slides > section.present").innerText;`, &visible)
	var notesHidden []bool
	b.eval(`return [...document.querySelectorAll(".reveal .slides > section")].map(s => {
		const n = s.querySelector("aside.notes"); return n !== null && getComputedStyle(n).display === "none"; });`, &notesHidden)
	for i, s := range deck.Slides {
		if s.Notes == "" {
			continue
		}
		if i >= len(notesHidden) || !notesHidden[i] {
			t.Errorf("slide %d (%s): its presenter notes are not a hidden aside.notes: the projector would show them", i+1, s.Title)
		}
	}
	visible = strings.ToLower(plain(visible)) // innerText: what is rendered, in the theme's letter case
	if note := strings.ToLower(firstWords(deck.Slides[shown].Notes)); note != "" && strings.Contains(visible, note) {
		t.Errorf("the audience's slide %d shows its presenter notes (%q) in:\n%s", shown+1, note, visible)
	}
	if !strings.Contains(visible, strings.ToLower(plain(deck.Slides[shown].Title))) {
		t.Errorf("the audience's slide %d does not show its title %q; it shows:\n%s", shown+1, deck.Slides[shown].Title, visible)
	}
}

// checkSpeakerView opens reveal.js's speaker view (what S does) and checks it shows the current slide's notes and
// a running clock.
func checkSpeakerView(t *testing.T, b *browser, deck agenda.Deck, shown int) {
	t.Helper()
	main := b.windows()
	b.eval(`Reveal.getPlugin("notes").open(); return true;`, nil)
	deadline := time.Now().Add(speakerLimit)
	var speaker string
	for speaker == "" {
		for _, h := range b.windows() {
			if !slices.Contains(main, h) {
				speaker = h
			}
		}
		if speaker == "" && time.Now().After(deadline) {
			t.Fatalf("the speaker view window did not open within %s", speakerLimit)
		}
		time.Sleep(pollEvery)
	}
	b.switchTo(speaker)
	b.cmd(http.MethodPost, "/window/rect", map[string]int{"width": speakerWidth, "height": speakerHeight}, nil)
	note := firstWords(deck.Slides[shown].Notes)
	if note == "" {
		t.Fatalf("deck %s slide %d has no presenter notes to look for in the speaker view", deck.Name, shown+1)
	}
	b.waitTrue(speakerLimit, "the speaker view shows slide "+strconv.Itoa(shown+1)+" and its notes ("+note+")",
		`const n = document.querySelector(".speaker-controls-notes");
		 const f = document.querySelector("#current-slide iframe");
		 const r = f && f.contentWindow && f.contentWindow.Reveal;
		 if (!n || !r || !r.isReady()) return false;
		 const text = n.innerText.replace(/[`+"`"+`*_]/g, "").replace(/\s+/g, " ");
		 return r.getIndices().h === `+strconv.Itoa(shown)+` && text.includes(`+jsString(note)+`);`)
	var clock string
	b.eval(`const c = document.querySelector(".speaker-controls-time .clock-value"); return c ? c.innerText : "";`, &clock)
	if !strings.Contains(clock, ":") {
		t.Errorf("the speaker view's clock reads %q; want a time of day", clock)
	}
	b.waitTrue(speakerLimit, "the speaker view shows a pacing timer (reveal.js got the deck's totalTime)",
		`const p = document.querySelector(".speaker-controls-time .pacing");
		 return p !== null && getComputedStyle(p).display !== "none";`)
}

// firstWords returns the first six words of a note, as plain text.
func firstWords(note string) string {
	w := strings.Fields(plain(note))
	return strings.Join(w[:min(6, len(w))], " ")
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	data, _ := json.Marshal(s)
	return string(data)
}

// Projector frame: the width and height every deck is laid out for (deck.html's Reveal.initialize).
const frameWidth, frameHeight = 1280, 720

// TestEverySlideFitsTheProjector opens every deck in headless Chromium and checks, slide by slide, that its content
// fits the 1280×720 frame reveal.js scales to the projector: nothing taller than the frame, no code block or table
// wider than the slide. With MSGLABS_SLIDE_SHOTS=1 it also keeps a screenshot of every slide (for reviewing decks).
func TestEverySlideFitsTheProjector(t *testing.T) {
	root := kitRoot(t)
	driver, chromium := needBrowser(t, root)
	srv := httptest.NewServer(New(root))
	t.Cleanup(srv.Close)
	b := startBrowser(t, driver, chromium)
	names, err := agenda.DeckNames(root)
	if err != nil {
		t.Fatal(err)
	}
	shots := ""
	if os.Getenv("MSGLABS_SLIDE_SHOTS") != "" {
		shots = filepath.Join(artefacts(t, root), "decks")
		if err := os.MkdirAll(shots, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range names {
		deck, err := agenda.LoadDeck(root, name)
		if err != nil {
			t.Fatal(err)
		}
		b.open(srv.URL + "/deck/" + name)
		b.waitTrue(renderLimit, "deck "+name+" rendered by reveal.js",
			`return typeof Reveal !== "undefined" && Reveal.isReady() && Reveal.getTotalSlides() === `+strconv.Itoa(len(deck.Slides))+`;`)
		b.eval(`Reveal.configure({transition: "none", backgroundTransition: "none"}); return true;`, nil)
		for i, s := range deck.Slides {
			var fit struct {
				Height   int `json:"height"`
				Overflow []string
			}
			b.eval(`Reveal.slide(`+strconv.Itoa(i)+`);
				const s = Reveal.getCurrentSlide();
				const wide = [...s.querySelectorAll("pre code, table")]
					.filter(e => e.scrollWidth > e.clientWidth + 1 || e.getBoundingClientRect().width > s.getBoundingClientRect().width + 1)
					.map(e => e.tagName.toLowerCase() + ": " + e.textContent.trim().slice(0, 40));
				return {height: s.scrollHeight, Overflow: wide};`, &fit)
			if fit.Height > frameHeight {
				t.Errorf("%s slide %d (%s) is %d px tall; the projector frame is %d: cut a line or split it", deck.Path(), i+1, s.Title, fit.Height, frameHeight)
			}
			for _, o := range fit.Overflow {
				t.Errorf("%s slide %d (%s): wider than the slide: %s", deck.Path(), i+1, s.Title, o)
			}
			if shots != "" {
				b.screenshot(filepath.Join(shots, fmt.Sprintf("%s-%02d.png", name, i+1)))
			}
		}
	}
}
