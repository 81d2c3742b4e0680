package room

import (
	"bytes"
	"crypto/subtle"
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Page settings.
const (
	maxStreams   = 32               // browsers following the live stream at once
	streamTick   = 20 * time.Second // the page is re-sent this often even without events, so minutes stuck move on
	tokenParam   = "token"
	streamPath   = "/api/stream"
	apiPath      = "/api/room"
	staleMinutes = 15 // stuck this long on a lab: the cell is drawn as needing a visit
)

//go:embed page.html
var pageHTML string

var page = template.Must(template.New("page").Funcs(template.FuncMap{
	"cellClass": cellClass,
	"percent":   func(a, b int) int { return a * 100 / max(1, b) },
}).Parse(pageHTML))

// cellClass is the CSS class of a grid cell: its status, and "stale" when stuck long enough to need a visit.
func cellClass(c CellView) string {
	switch {
	case c.Status == "":
		return "none"
	case c.Status == ResultPass:
		return "pass"
	case c.StuckMinutes >= staleMinutes:
		return c.Status + " stale"
	}
	return c.Status
}

// hub tells the live streams that the room changed: changed closes the current channel and makes a new one.
type hub struct {
	mu      sync.Mutex
	ch      chan struct{}
	streams chan struct{} // a slot per open stream
}

func (h *hub) init() {
	h.ch = make(chan struct{})
	h.streams = make(chan struct{}, maxStreams)
}

func (h *hub) wait() <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.ch
}

func (h *hub) changed() {
	h.mu.Lock()
	defer h.mu.Unlock()
	close(h.ch)
	h.ch = make(chan struct{})
}

// Handler serves the page at /, the room as JSON at /api/room, and the live page body as server-sent events at
// /api/stream. With a token, every request must carry it (?token=…, or "Authorization: Bearer …").
func (s *Server) Handler(token string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.servePage)
	mux.HandleFunc("GET "+apiPath, s.serveAPI)
	mux.HandleFunc("GET "+streamPath, s.serveStream)
	return guard(token, mux)
}

func guard(token string, next http.Handler) http.Handler {
	if token == "" {
		return next
	}
	want := []byte(token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := r.URL.Query().Get(tokenParam)
		if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Bearer ") {
			got = strings.TrimPrefix(h, "Bearer ")
		}
		if subtle.ConstantTimeCompare([]byte(got), want) != 1 {
			http.Error(w, "this room needs its token: open the address the instructor gave, with ?token=…", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// pageData is what the template draws.
type pageData struct {
	View
	Stream string // the live stream's URL, with the token
	Stale  int
}

func (s *Server) data(r *http.Request) pageData {
	stream := streamPath
	if t := r.URL.Query().Get(tokenParam); t != "" {
		stream += "?" + tokenParam + "=" + template.URLQueryEscaper(t)
	}
	return pageData{View: s.State.View(s.Now()), Stream: stream, Stale: staleMinutes}
}

func (s *Server) servePage(w http.ResponseWriter, r *http.Request) {
	var buf bytes.Buffer
	if err := page.Execute(&buf, s.data(r)); err != nil {
		http.Error(w, "render the room: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(buf.Bytes())
}

func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(s.State.View(s.Now()))
}

// serveStream sends the page's room section as a server-sent event now, after every change, and every streamTick.
func (s *Server) serveStream(w http.ResponseWriter, r *http.Request) {
	select {
	case s.hub.streams <- struct{}{}:
		defer func() { <-s.hub.streams }()
	default:
		http.Error(w, "too many open room pages; close one", http.StatusServiceUnavailable)
		return
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming is not supported here", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	tick := time.NewTicker(streamTick)
	defer tick.Stop()
	for {
		changed := s.hub.wait()
		var buf bytes.Buffer
		if err := page.ExecuteTemplate(&buf, "room", s.data(r)); err != nil {
			return
		}
		fmt.Fprint(w, "event: room\n")
		for _, line := range strings.Split(buf.String(), "\n") {
			fmt.Fprintf(w, "data: %s\n", line)
		}
		fmt.Fprint(w, "\n")
		flusher.Flush()
		select {
		case <-r.Context().Done():
			return
		case <-changed:
		case <-tick.C:
		}
	}
}
