package room

import (
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Bounds on the dashboard's memory: the grid holds at most this many attendees and labs; events beyond them are
// stored and counted but not shown.
const (
	maxAttendees = 300
	maxLabs      = 40
	topHints     = 5 // attendees listed under "most hints"
)

// cell is one attendee's state on one lab.
type cell struct {
	result   string // of the last run
	marker   string
	step     int
	hints    int
	runs     int
	passed   bool      // passed at least once
	lastAt   time.Time // when the last event arrived
	lastSec  int64     // its seconds since the lab started
	stuckAt  time.Time // when the current run of non-passing results began (arrival time)
	stuckSec int64     // and its seconds since the lab started
}

// labStats counts a lab's failing runs by marker.
type labStats struct {
	markers map[string]int
}

// State is the room as the dashboard shows it, folded from the events in the order they were stored. It is safe for
// concurrent use; its size is bounded by maxAttendees × maxLabs, whatever the number of events.
type State struct {
	mu        sync.Mutex
	room      string
	attendees map[string]map[string]*cell // attendee → lab → cell
	labs      map[string]*labStats
	events    int // distinct events applied
	ignored   int // applied but beyond the bounds of the grid
	version   uint64
}

// NewState returns an empty room.
func NewState(room string) *State {
	return &State{room: room, attendees: map[string]map[string]*cell{}, labs: map[string]*labStats{}}
}

// Apply folds one stored event into the room. The caller guarantees each event id is applied once (the store's
// primary key does).
func (s *State) Apply(e Event, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events++
	s.version++
	labs, ok := s.attendees[e.Attendee]
	if !ok {
		if len(s.attendees) >= maxAttendees {
			s.ignored++
			return
		}
		labs = map[string]*cell{}
		s.attendees[e.Attendee] = labs
	}
	if _, ok := s.labs[e.Lab]; !ok {
		if len(s.labs) >= maxLabs {
			s.ignored++
			return
		}
		s.labs[e.Lab] = &labStats{markers: map[string]int{}}
	}
	c := labs[e.Lab]
	if c == nil {
		c = &cell{}
		labs[e.Lab] = c
	}
	if e.Result != ResultPass && (c.runs == 0 || c.result == ResultPass) {
		c.stuckAt, c.stuckSec = at, e.Seconds // a new run of non-passing results starts here
	}
	c.result, c.marker, c.step, c.runs = e.Result, e.Marker, e.Step, c.runs+1
	c.hints = max(c.hints, e.Hints)
	c.passed = c.passed || e.Result == ResultPass
	c.lastAt, c.lastSec = at, e.Seconds
	if e.Result == ResultFail && e.Marker != "" {
		s.labs[e.Lab].markers[e.Marker]++
	}
}

// Version changes whenever an event is applied.
func (s *State) Version() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.version
}

// View is the room as /api/room serves it and the page draws it.
type View struct {
	Room      string         `json:"room"`
	Events    int            `json:"events"`  // distinct events counted
	Ignored   int            `json:"ignored"` // of which beyond the grid's bounds
	Labs      []LabView      `json:"labs"`
	Attendees []AttendeeView `json:"attendees"`
	TopHints  []HintView     `json:"top_hints"`
}

// LabView is one column: a lab and how the room does on it.
type LabView struct {
	Lab        string `json:"lab"`
	Number     int    `json:"number"`
	Started    int    `json:"started"`               // attendees who ran it
	Passed     int    `json:"passed"`                // of whom passed it at least once
	Failing    int    `json:"failing"`               // of whom are failing it now
	TopMarker  string `json:"top_marker,omitempty"`  // the most common marker of its failing runs
	MarkerRuns int    `json:"marker_runs,omitempty"` // how many runs failed with it
}

// AttendeeView is one row: an attendee and a cell per lab (in the order of View.Labs).
type AttendeeView struct {
	Name  string     `json:"name"`
	Hints int        `json:"hints"`
	Cells []CellView `json:"cells"`
}

// CellView is one attendee on one lab. Status is "" for a lab the attendee has not run.
type CellView struct {
	Lab          string `json:"lab"`
	Status       string `json:"status,omitempty"` // the last run's result
	Passed       bool   `json:"passed,omitempty"` // passed at least once
	Marker       string `json:"marker,omitempty"`
	Step         int    `json:"step,omitempty"`
	Runs         int    `json:"runs,omitempty"`
	Hints        int    `json:"hints,omitempty"`
	StuckMinutes int    `json:"stuck_minutes,omitempty"` // for a lab not passing now: how long it has not
}

// HintView is one attendee in the "most hints" list.
type HintView struct {
	Name  string `json:"name"`
	Hints int    `json:"hints"`
}

// View returns the room now.
func (s *State) View(now time.Time) View {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := View{Room: s.room, Events: s.events, Ignored: s.ignored, Labs: []LabView{}, Attendees: []AttendeeView{}}
	labs := make([]string, 0, len(s.labs))
	for l := range s.labs {
		labs = append(labs, l)
	}
	sort.Strings(labs)
	col := map[string]int{}
	for i, l := range labs {
		col[l] = i
		v.Labs = append(v.Labs, LabView{Lab: l, Number: labNumber(l)})
		v.Labs[i].TopMarker, v.Labs[i].MarkerRuns = top(s.labs[l].markers)
	}
	names := make([]string, 0, len(s.attendees))
	for n := range s.attendees {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return strings.ToLower(names[i]) < strings.ToLower(names[j]) })
	for _, n := range names {
		a := AttendeeView{Name: n, Cells: make([]CellView, len(labs))}
		for i, l := range labs {
			a.Cells[i].Lab = l
		}
		for l, c := range s.attendees[n] {
			i := col[l]
			a.Cells[i] = cellView(l, c, now)
			a.Hints += c.hints
			lv := &v.Labs[i]
			lv.Started++
			if c.passed {
				lv.Passed++
			}
			if c.result == ResultFail {
				lv.Failing++
			}
		}
		v.Attendees = append(v.Attendees, a)
	}
	v.TopHints = mostHints(v.Attendees)
	return v
}

func cellView(lab string, c *cell, now time.Time) CellView {
	cv := CellView{Lab: lab, Status: c.result, Passed: c.passed, Marker: c.marker, Step: c.step, Runs: c.runs, Hints: c.hints}
	if c.result != ResultPass {
		cv.StuckMinutes = int(stuck(c, now) / time.Minute)
	}
	return cv
}

// stuck is how long the attendee has been on the lab without passing it: the attendee's own clock between the first
// and the last of those runs (so a dashboard that was down meanwhile still tells it right), plus the time since the
// last one arrived. Without the attendee's clock, arrival times alone.
func stuck(c *cell, now time.Time) time.Duration {
	since := now.Sub(c.lastAt)
	if c.lastSec > 0 && c.lastSec >= c.stuckSec {
		return time.Duration(c.lastSec-c.stuckSec)*time.Second + since
	}
	return now.Sub(c.stuckAt)
}

func top(markers map[string]int) (string, int) {
	best, n := "", 0
	for m, k := range markers {
		if k > n || (k == n && m < best) {
			best, n = m, k
		}
	}
	return best, n
}

func mostHints(as []AttendeeView) []HintView {
	out := []HintView{}
	for _, a := range as {
		if a.Hints > 0 {
			out = append(out, HintView{Name: a.Name, Hints: a.Hints})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Hints > out[j].Hints })
	return out[:min(len(out), topHints)]
}

// labNumber is the number at the front of a lab's folder name: "05-idempotent-consumer" → 5.
func labNumber(lab string) int {
	n, _ := strconv.Atoi(strings.SplitN(lab, "-", 2)[0])
	return n
}
