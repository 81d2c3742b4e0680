package tui

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"msglabs/checker/agenda"
	"msglabs/checker/safefile"
	"msglabs/checker/slides"
)

// PositionFile is where the slides screen keeps the slide shown, relative to the kit root: a second checker (the
// presenter view on the instructor's laptop) follows the first (on the projector), and the other way round.
const PositionFile = ".msglabs/slides.json"

// slidesPoll is how often a slides screen looks whether the other terminal moved on.
const slidesPoll = 300 * time.Millisecond

// presenterTick is how often the presenter view's timer refreshes.
const presenterTick = time.Second

type (
	// slidesOpenMsg shows a deck (by name, e.g. "05-idempotent-consumer"), or the index of every deck when deck is "".
	slidesOpenMsg struct{ deck string }
	indexMsg      struct {
		entries []slides.Entry
		err     error
	}
	deckMsg struct {
		gen    int
		deck   agenda.Deck
		bodies []string // each slide rendered
		notes  []string // each slide's notes, wrapped
		err    error
	}
	slidesPollMsg    struct{}
	presenterTickMsg struct{}
)

// position is a slide of a deck, as the position file holds it.
type position struct {
	Deck  string `json:"deck"`
	Slide int    `json:"slide"`
}

// slidesModel shows the lecture decks: an index of every deck in agenda order (00-intro first, the topic decks
// where the agenda puts them), a deck one slide at a time rendered by glamour, and (for instructors) the presenter
// view. The slide view never shows presenter notes: it is what the projector shows. The presenter view shows the
// notes, the next slide's title and a timer instead of the slide, for a second terminal off the projector; the two
// follow each other through PositionFile. The arrow keys go on to the next deck past a deck's last slide.
type slidesModel struct {
	c *common

	entries  []slides.Entry
	indexErr error
	cursor   int
	inIndex  bool
	fromIdx  bool // the deck was opened from the index: esc goes back to it

	gen       int
	loading   bool
	deck      deckMsg
	want      string // the deck asked for
	slide     int
	wantLast  bool // going back past a deck's first slide: show the previous deck's last
	presenter bool
	since     time.Time // when the presenter view opened: its timer

	shown   bool // the slides screen is the one shown (it then polls the position file)
	polling bool
	synced  position // the last position written or followed

	pane   pager
	width  int
	height int
}

func newSlides(c *common) *slidesModel { return &slidesModel{c: c, pane: newPager(c.keys)} }

func (s *slidesModel) Update(msg tea.Msg) (screen, tea.Cmd) {
	switch msg := msg.(type) {
	case sizeMsg:
		wider := msg.width != s.width
		s.width, s.height = msg.width, msg.height
		s.pane.SetSize(msg.width, msg.height-1)
		if wider {
			return s, s.render() // the slides wrap anew
		}
	case shownMsg:
		s.shown = msg.id == scrSlides
		return s, s.poll()
	case slidesOpenMsg:
		return s, s.open(msg.deck)
	case indexMsg:
		s.entries, s.indexErr = msg.entries, msg.err
		s.placeCursor()
	case deckMsg:
		return s, s.loaded(msg)
	case slidesPollMsg:
		s.polling = false
		return s, tea.Batch(s.follow(), s.poll())
	case presenterTickMsg:
		return s, s.tickPresenter()
	case tea.KeyMsg:
		return s, s.key(msg)
	}
	return s, nil
}

// open shows deck name, or the index when name is "". The index is read each time (an edited agenda shows at once).
func (s *slidesModel) open(name string) tea.Cmd {
	root := s.c.kit.Root
	readIndex := func() tea.Msg {
		entries, err := slides.Index(root)
		return indexMsg{entries: entries, err: err}
	}
	if name == "" {
		s.inIndex = true
		return readIndex
	}
	s.inIndex, s.fromIdx = false, false
	return tea.Batch(readIndex, s.show(name, s.join(name)))
}

// join is the slide of deck name to open at: the one the other terminal shows when it shows that deck, else the
// first. Opening a deck in one terminal does not pull the other back to its start.
func (s *slidesModel) join(name string) int {
	p, ok := s.readPosition()
	if !ok || p.Deck != name {
		return 0
	}
	s.synced = p
	return p.Slide
}

// readPosition reads the position file.
func (s *slidesModel) readPosition() (position, bool) {
	data, err := os.ReadFile(s.positionPath())
	if err != nil {
		return position{}, false
	}
	var p position
	if json.Unmarshal(data, &p) != nil || p.Deck == "" {
		return position{}, false
	}
	return p, true
}

// show renders deck name in the background and shows its slide i once it is there.
func (s *slidesModel) show(name string, i int) tea.Cmd {
	if s.deck.deck.Name == name && s.deck.err == nil && !s.loading {
		s.goTo(i)
		return nil
	}
	s.want, s.slide = name, i
	return s.render()
}

// render renders the deck asked for (opening it, or after a resize).
func (s *slidesModel) render() tea.Cmd {
	if s.want == "" {
		return nil
	}
	s.gen++
	s.loading = true
	gen, root, name, style, width := s.gen, s.c.kit.Root, s.want, s.c.glamour, s.width
	return func() tea.Msg { return renderDeck(gen, root, name, style, width) }
}

func renderDeck(gen int, root, name, style string, width int) deckMsg {
	out := deckMsg{gen: gen}
	d, err := agenda.LoadDeck(root, name)
	if errors.Is(err, fs.ErrNotExist) {
		out.deck.Name, out.err = name, fmt.Errorf("there are no slides %s yet", agenda.SlidesDir+"/"+name+".md")
		return out
	}
	if err != nil {
		out.deck.Name, out.err = name, err
		return out
	}
	out.deck = d
	r, err := markdown(style, width)
	if err != nil {
		out.err = err
		return out
	}
	for _, sl := range d.Slides {
		body, err := r.Render(sl.Body)
		if err != nil {
			body = sl.Body
		}
		out.bodies = append(out.bodies, strings.Trim(body, "\n"))
		out.notes = append(out.notes, wrap(unwrapParagraphs(sl.Notes), max(width-4, minMarkdown)))
	}
	return out
}

func (s *slidesModel) loaded(msg deckMsg) tea.Cmd {
	if msg.gen != s.gen {
		return nil
	}
	s.loading, s.deck = false, msg
	i := s.slide
	if s.wantLast {
		i, s.wantLast = len(msg.bodies)-1, false
	}
	s.goTo(i)
	return nil
}

// goTo shows slide i of the deck rendered, and tells the other terminal.
func (s *slidesModel) goTo(i int) {
	s.slide = max(min(i, len(s.deck.bodies)-1), 0)
	s.fill()
	s.publish()
}

// fill puts the slide (or, in the presenter view, its notes) into the pane.
func (s *slidesModel) fill() {
	st := s.c.st
	switch {
	case s.deck.err != nil:
		s.pane.SetContent(st.Dim.Render(s.deck.err.Error()), true)
	case len(s.deck.bodies) == 0:
		s.pane.SetContent(st.Dim.Render("the deck is empty"), true)
	case s.presenter:
		s.pane.SetContent(s.presenterView(), true)
	default:
		s.pane.SetContent(s.deck.bodies[s.slide], true)
	}
}

// presenterView is what the instructor reads: the slide's notes, then the next slide's title.
func (s *slidesModel) presenterView() string {
	st := s.c.st
	d := s.deck
	notes := d.notes[s.slide]
	if strings.TrimSpace(notes) == "" {
		notes = st.Dim.Render("(no notes for this slide)")
	}
	next := st.Dim.Render("next: (the last slide of the deck)")
	if s.slide+1 < len(d.deck.Slides) {
		next = st.Dim.Render("next: ") + st.Bold.Render(d.deck.Slides[s.slide+1].Title)
	} else if nx, ok := s.neighbour(+1); ok {
		next = st.Dim.Render("next: the deck ") + st.Bold.Render(nx.Title)
	}
	rule := st.Dim.Render(strings.Repeat("─", s.width))
	return st.Bold.Render(d.deck.Slides[s.slide].Title) + "\n" + rule + "\n" + notes + "\n" + rule + "\n" + next
}

// neighbour is the deck before (-1) or after (+1) the one shown, in the index's order.
func (s *slidesModel) neighbour(dir int) (slides.Entry, bool) {
	i := slices.IndexFunc(s.entries, func(e slides.Entry) bool { return e.Name == s.deck.deck.Name })
	if i < 0 || i+dir < 0 || i+dir >= len(s.entries) {
		return slides.Entry{}, false
	}
	return s.entries[i+dir], true
}

// placeCursor puts the index's cursor on the deck shown.
func (s *slidesModel) placeCursor() {
	if i := slices.IndexFunc(s.entries, func(e slides.Entry) bool { return e.Name == s.deck.deck.Name }); i >= 0 {
		s.cursor = i
	}
	s.cursor = max(min(s.cursor, len(s.entries)-1), 0)
}

func (s *slidesModel) key(msg tea.KeyMsg) tea.Cmd {
	k := s.c.keys
	if s.inIndex {
		return s.indexKey(msg)
	}
	switch {
	case key.Matches(msg, k.NextSlide):
		return s.step(+1)
	case key.Matches(msg, k.Prev):
		return s.step(-1)
	case key.Matches(msg, k.Presenter):
		return s.togglePresenter()
	case key.Matches(msg, k.Decks):
		s.inIndex = true
		s.placeCursor()
		return nil
	case key.Matches(msg, k.Back):
		if s.fromIdx {
			s.inIndex = true
			return nil
		}
		return s.c.back()
	}
	cmd, _ := s.pane.Update(msg)
	return cmd
}

func (s *slidesModel) indexKey(msg tea.KeyMsg) tea.Cmd {
	k := s.c.keys
	switch {
	case key.Matches(msg, k.Up):
		s.cursor = max(s.cursor-1, 0)
	case key.Matches(msg, k.Down):
		s.cursor = min(s.cursor+1, max(len(s.entries)-1, 0))
	case key.Matches(msg, k.Top):
		s.cursor = 0
	case key.Matches(msg, k.Bottom):
		s.cursor = max(len(s.entries)-1, 0)
	case key.Matches(msg, k.Open):
		if len(s.entries) == 0 {
			return nil
		}
		s.inIndex, s.fromIdx = false, true
		name := s.entries[s.cursor].Name
		return s.show(name, s.join(name))
	case key.Matches(msg, k.Back):
		return s.c.back()
	}
	return nil
}

// step goes to the next or previous slide, and on to the next (or previous) deck past either end of this one.
func (s *slidesModel) step(dir int) tea.Cmd {
	if s.loading {
		return nil
	}
	i := s.slide + dir
	if i >= 0 && i < len(s.deck.bodies) {
		s.goTo(i)
		return nil
	}
	nx, ok := s.neighbour(dir)
	if !ok {
		return nil
	}
	s.wantLast = dir < 0
	return s.show(nx.Name, 0)
}

func (s *slidesModel) togglePresenter() tea.Cmd {
	if !s.c.kit.Instructor {
		return flashErr("the presenter view" + instructorOnly)
	}
	s.presenter = !s.presenter
	if !s.presenter {
		s.fill()
		return nil
	}
	s.since = s.c.now()
	s.fill()
	// The presenter joins the slide the projector shows.
	return tea.Batch(s.follow(), s.tickPresenter())
}

func (s *slidesModel) tickPresenter() tea.Cmd {
	if !s.presenter || s.c.opts.Static {
		return nil
	}
	return tea.Tick(presenterTick, func(time.Time) tea.Msg { return presenterTickMsg{} })
}

// positionPath is the position file's path.
func (s *slidesModel) positionPath() string {
	return filepath.Join(s.c.kit.Root, filepath.FromSlash(PositionFile))
}

// publish writes the slide shown for the other terminal, when it changed.
func (s *slidesModel) publish() {
	p := position{Deck: s.deck.deck.Name, Slide: s.slide}
	if p == s.synced || s.deck.err != nil {
		return
	}
	s.synced = p
	data, _ := json.Marshal(p)
	path := s.positionPath()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return
	}
	_ = safefile.Write(path, data, 0o644) // a presenter view that cannot follow is no reason to stop the slides
}

// poll looks at the position file again in a moment, while the slides screen is shown.
func (s *slidesModel) poll() tea.Cmd {
	if !s.shown || s.polling || s.c.opts.Static {
		return nil
	}
	s.polling = true
	return tea.Tick(slidesPoll, func(time.Time) tea.Msg { return slidesPollMsg{} })
}

// follow goes to the slide the other terminal shows, when it moved since. The file is a few bytes: it is read
// each time rather than judged by its modification time, which two quick writes can share.
func (s *slidesModel) follow() tea.Cmd {
	p, ok := s.readPosition()
	if !ok || p == s.synced {
		return nil
	}
	s.synced = p
	s.inIndex = false
	return s.show(p.Deck, p.Slide)
}

func (s *slidesModel) View() string {
	st := s.c.st
	if s.inIndex {
		return s.indexView()
	}
	d := s.deck
	what := "slides"
	if len(d.bodies) > 0 && !s.loading {
		what = fmt.Sprintf("slides %d/%d", s.slide+1, len(d.bodies))
	}
	title := d.deck.Title
	if title == "" {
		title = s.want
	}
	head := st.Title.Render(title) + "  " + st.SlideMeta.Render(what)
	if s.presenter {
		head = st.Tag.Render("presenter view (not for the projector)") + "  " + st.SlideMeta.Render(what+" · "+title) +
			"  " + st.Bold.Render(s.timer())
	}
	if s.loading && d.gen != s.gen {
		return truncate(head, s.width) + "\n\n" + st.Dim.Render("rendering…")
	}
	return truncate(head, s.width) + "\n" + s.pane.View()
}

// timer is the presenter's clock: the time since the presenter view opened, against the deck's own minutes.
func (s *slidesModel) timer() string {
	el := s.c.now().Sub(s.since).Truncate(time.Second)
	out := fmt.Sprintf("%d:%02d", int(el.Minutes()), int(el.Seconds())%60)
	if m := s.deck.deck.Minutes; m > 0 {
		out += fmt.Sprintf(" of %d min", m)
	}
	return out
}

func (s *slidesModel) indexView() string {
	st := s.c.st
	var b strings.Builder
	b.WriteString(st.Title.Render("lectures") + "  " + st.SlideMeta.Render("every deck, in the order of the agenda") + "\n")
	if s.indexErr != nil {
		b.WriteString(st.Warn.Render(truncate(s.indexErr.Error(), s.width)) + "\n")
	}
	if len(s.entries) == 0 {
		b.WriteString(st.Dim.Render("no decks in slides/ yet"))
		return b.String()
	}
	rows := max(s.height-3, 3)
	first := max(s.cursor-rows+1, 0)
	for i := first; i < len(s.entries) && i < first+rows; i++ {
		e := s.entries[i]
		when := "      "
		if e.Day > 0 {
			when = fmt.Sprintf("day %d %s", e.Day, e.Start)
		}
		mins := ""
		if e.Minutes > 0 {
			mins = fmt.Sprintf("%3d min", e.Minutes)
		}
		row := truncate(fmt.Sprintf("%-12s %7s  %s", when, mins, e.Title), max(s.width-3, minWrap))
		if i == s.cursor {
			b.WriteString(st.Cursor.Render(" › ") + st.Bold.Render(row) + "\n")
		} else {
			b.WriteString("   " + row + "\n")
		}
	}
	return b.String()
}

func (s *slidesModel) ShortHelp() []key.Binding {
	k := s.c.keys
	if s.inIndex {
		return []key.Binding{k.Up, k.Down, k.Open, k.Back}
	}
	b := []key.Binding{k.Prev, k.NextSlide, k.Down, k.Decks}
	if s.c.kit.Instructor {
		b = append(b, k.Presenter)
	}
	return append(b, k.Back)
}

// unwrapParagraphs joins the lines of each paragraph, so notes written at 120 columns wrap well at any width.
func unwrapParagraphs(s string) string {
	paras := strings.Split(s, "\n\n")
	for i, p := range paras {
		paras[i] = strings.Join(strings.Fields(p), " ")
	}
	return strings.Join(paras, "\n\n")
}
