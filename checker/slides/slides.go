// Package slides serves the kit's lecture decks (slides/*.md) in a browser with reveal.js: an index in agenda order,
// every deck from its `---` / `Note:` markdown, and reveal.js's speaker view (press S: notes, the next slide and a
// timer on the instructor's screen, the slides alone on the projector). reveal.js is not vendored: `make prepare`
// installs the version pinned in slides/package.json into slides/node_modules (git-ignored), so a room without
// internet works and nothing runs on node at presentation time.
package slides

import (
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"msglabs/checker/agenda"
)

// RevealDir is where `make prepare` installs reveal.js, relative to the kit root.
const RevealDir = "slides/node_modules/reveal.js"

// InstallHint is what to do when reveal.js is missing.
const InstallHint = "run `make prepare` once (it needs npm and the internet; afterwards the room needs neither)"

// Routes.
const (
	deckPath   = "/deck/"   // /deck/<name>: the deck in reveal.js
	mdPath     = "/md/"     // /md/<name>.md: the deck's markdown
	revealPath = "/reveal/" // reveal.js's dist/ folder
	staticPath = "/static/" // the kit's own stylesheet
)

//go:embed static
var static embed.FS

// Server serves the decks of one kit. It reads the agenda and the decks on every request, so an edit shows on the
// next reload. It holds no state of its own and is safe for concurrent use.
type Server struct {
	root string
	mux  *http.ServeMux
}

// New returns a server for the kit at root.
func New(root string) *Server {
	s := &Server{root: root, mux: http.NewServeMux()}
	s.mux.HandleFunc("GET /{$}", s.index)
	s.mux.HandleFunc("GET "+deckPath+"{name}", s.deck)
	s.mux.HandleFunc("GET "+mdPath+"{file}", s.markdown)
	s.mux.Handle("GET "+revealPath, http.StripPrefix(revealPath, http.FileServer(http.Dir(s.revealDist()))))
	sub, _ := fs.Sub(static, "static")
	s.mux.Handle("GET "+staticPath, http.StripPrefix(staticPath, http.FileServer(http.FS(sub))))
	return s
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

func (s *Server) revealDist() string {
	return filepath.Join(s.root, filepath.FromSlash(RevealDir), "dist")
}

// RevealInstalled reports whether reveal.js is installed in the kit at root, and says what is missing if not.
func RevealInstalled(root string) error {
	js := filepath.Join(root, filepath.FromSlash(RevealDir), "dist", "reveal.js")
	if _, err := os.Stat(js); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("reveal.js is not installed in %s: %s", RevealDir, InstallHint)
		}
		return fmt.Errorf("reveal.js in %s: %w", RevealDir, err)
	}
	return nil
}

// Entry is one deck on the index page.
type Entry struct {
	Name, Title string
	Day         int    // 0: not in the agenda
	Start       string // "09:40"
	Minutes     int
	Lab         int // the lab the deck introduces, 0 for a topic lecture
}

// Index returns the decks in agenda order, then any deck the agenda does not schedule (by name), and the problem
// that kept the agenda from being read, if any (the decks are then listed by name only).
func Index(root string) ([]Entry, error) {
	names, err := agenda.DeckNames(root)
	if err != nil {
		return nil, err
	}
	var entries []Entry
	plan, planErr := plan(root)
	if plan != nil {
		for _, name := range plan.Decks() {
			day, row, _ := plan.DeckSlot(name)
			if !slices.Contains(names, name) {
				continue
			}
			entries = append(entries, Entry{Name: name, Title: row.Text, Day: day, Start: agenda.Clock(row.Start), Minutes: row.Minutes, Lab: row.Lab})
		}
	}
	for _, name := range names {
		if !slices.ContainsFunc(entries, func(e Entry) bool { return e.Name == name }) {
			e := Entry{Name: name, Title: name}
			if d, err := agenda.LoadDeck(root, name); err == nil && d.Title != "" {
				e.Title, e.Minutes = d.Title, d.Minutes
			}
			entries = append(entries, e)
		}
	}
	return entries, planErr
}

// plan computes the timetable; a plan with problems is still a plan (the index shows what it can).
func plan(root string) (*agenda.Plan, error) {
	a, err := agenda.Load(root)
	if err != nil {
		return nil, err
	}
	labs, err := agenda.LoadLabs(root)
	if err != nil {
		return nil, err
	}
	titles := map[string]string{}
	names, _ := agenda.DeckNames(root)
	for _, n := range names {
		if d, err := agenda.LoadDeck(root, n); err == nil {
			titles[n] = d.Title
		}
	}
	p, _ := agenda.Build(a, labs, titles)
	return p, nil
}

var pages = template.Must(template.ParseFS(static, "static/*.html"))

type indexPage struct {
	Entries   []Entry
	AgendaErr error
	RevealErr error
}

func (s *Server) index(w http.ResponseWriter, _ *http.Request) {
	entries, err := Index(s.root)
	if entries == nil && err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	s.render(w, http.StatusOK, "index.html", indexPage{Entries: entries, AgendaErr: err, RevealErr: RevealInstalled(s.root)})
}

type deckPage struct {
	Name, Title string
	Seconds     int // the deck's whole time, for the speaker view's pacing timer
	RevealErr   error
}

func (s *Server) deck(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	d, ok := s.lookup(name)
	if !ok {
		http.Error(w, fmt.Sprintf("there is no deck %q in slides/", name), http.StatusNotFound)
		return
	}
	page := deckPage{Name: name, Title: d.Title, Seconds: d.Minutes * 60, RevealErr: RevealInstalled(s.root)}
	status := http.StatusOK
	if page.RevealErr != nil {
		status = http.StatusServiceUnavailable
	}
	s.render(w, status, "deck.html", page)
}

func (s *Server) markdown(w http.ResponseWriter, r *http.Request) {
	name, ok := strings.CutSuffix(r.PathValue("file"), ".md")
	if _, found := s.lookup(name); !ok || !found {
		http.NotFound(w, r)
		return
	}
	data, err := os.ReadFile(filepath.Join(s.root, agenda.SlidesDir, name+".md"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/markdown; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(data)
}

// lookup returns the deck called name, if slides/ has it. Only names DeckNames lists are served, so a request can
// never reach a file outside slides/.
func (s *Server) lookup(name string) (agenda.Deck, bool) {
	names, err := agenda.DeckNames(s.root)
	if err != nil || !slices.Contains(names, name) {
		return agenda.Deck{}, false
	}
	d, err := agenda.LoadDeck(s.root, name)
	return d, err == nil
}

func (s *Server) render(w http.ResponseWriter, status int, page string, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if err := pages.ExecuteTemplate(w, page, data); err != nil {
		fmt.Fprintf(w, "<p>rendering %s: %s</p>", page, template.HTMLEscapeString(err.Error()))
	}
}
