package agenda

import (
	"fmt"
	"slices"
)

// RowKind says what happens in a row of the timetable.
type RowKind string

// The kinds of rows.
const (
	RowLecture  RowKind = "lecture"  // a deck is presented
	RowSolo     RowKind = "solo"     // every attendee works on a lab step alone
	RowMob      RowKind = "mob"      // the same step again, as mobs with a rotating driver
	RowSync     RowKind = "sync"     // the room comes together: the step's result, the catch-up
	RowBreak    RowKind = "break"    // not teaching time
	RowActivity RowKind = "activity" // anything else that takes room time
)

// Row is one line of the computed timetable.
type Row struct {
	Start    int // minutes after midnight
	Minutes  int
	Kind     RowKind
	Text     string // "Coffee", a deck's title, a step's title
	Deck     string // lecture rows: the deck's name
	Lab      int    // lab rows (lecture, solo, mob, sync): the lab's number
	Step     int    // solo and mob rows: the step's number (1-based)
	Steps    []int  // sync rows: the steps the block covered
	Rotation int    // mob rows: minutes per driver
	Note     string // the block's note, on its first row
}

// End is the minute after midnight when the row ends.
func (r Row) End() int { return r.Start + r.Minutes }

// DayPlan is one day of the computed timetable.
type DayPlan struct {
	Title    string
	Start    int // minutes after midnight
	Limit    int // the latest the day may end
	Rows     []Row
	Teaching int // minutes of everything but breaks
	Breaks   int
}

// End is when the day's last row ends.
func (d DayPlan) End() int {
	if len(d.Rows) == 0 {
		return d.Start
	}
	return d.Rows[len(d.Rows)-1].End()
}

// Plan is the computed timetable of the whole workshop.
type Plan struct {
	Days []DayPlan
}

// Slot is where a lab (or one block of it) sits in the timetable.
type Slot struct {
	Day        int // 1-based
	Start, End int // minutes after midnight
	Rows       []Row
}

// LabSlots returns the blocks of lab n, in order (a lab split over blocks has several).
func (p *Plan) LabSlots(n int) []Slot {
	var out []Slot
	for di, d := range p.Days {
		var cur *Slot
		for _, r := range d.Rows {
			if r.Lab != n {
				cur = nil
				continue
			}
			if cur == nil {
				out = append(out, Slot{Day: di + 1, Start: r.Start})
				cur = &out[len(out)-1]
			}
			cur.Rows = append(cur.Rows, r)
			cur.End = r.End()
			if r.Kind == RowSync {
				cur = nil
			}
		}
	}
	return out
}

// DeckSlot returns the lecture row of deck name and its day (1-based); ok is false when the deck is not scheduled.
func (p *Plan) DeckSlot(name string) (day int, row Row, ok bool) {
	for di, d := range p.Days {
		for _, r := range d.Rows {
			if r.Kind == RowLecture && r.Deck == name {
				return di + 1, r, true
			}
		}
	}
	return 0, Row{}, false
}

// Decks returns the names of the scheduled decks, in the order they are presented.
func (p *Plan) Decks() []string {
	var out []string
	for _, d := range p.Days {
		for _, r := range d.Rows {
			if r.Kind == RowLecture {
				out = append(out, r.Deck)
			}
		}
	}
	return out
}

// Build computes the timetable from the agenda and the labs' metadata. titles gives each deck's title by name (a
// deck missing from it is shown by its name). Problems are what keeps the timetable from being right: a block that
// is not one thing, missing minutes, a lab or step unknown or scheduled twice, a day that does not fit.
func Build(a *Agenda, labs []Lab, titles map[string]string) (*Plan, []Problem) {
	b := builder{a: a, labs: map[int]Lab{}, titles: titles, lectured: map[int]bool{}, stepDone: map[[2]int]bool{}}
	for _, l := range labs {
		b.labs[l.Number] = l
	}
	plan := &Plan{}
	for di, day := range a.Days {
		plan.Days = append(plan.Days, b.day(di+1, day))
	}
	if len(a.Days) != WorkshopDays {
		b.problem("has %d days; the workshop is %d days", len(a.Days), WorkshopDays)
	}
	b.unscheduled(labs)
	return plan, b.probs
}

type builder struct {
	a        *Agenda
	labs     map[int]Lab
	titles   map[string]string
	lectured map[int]bool    // lab numbers whose lecture is already scheduled
	stepDone map[[2]int]bool // {lab, step} already scheduled
	probs    []Problem
	where    string // "day 1, block 3" while a block is built
}

func (b *builder) problem(format string, args ...any) {
	text := fmt.Sprintf(format, args...)
	if b.where != "" {
		text = b.where + ": " + text
	}
	b.probs = append(b.probs, Problem{File: File, Text: text})
}

func (b *builder) day(n int, day Day) DayPlan {
	b.where = fmt.Sprintf("day %d", n)
	start, err := clock(day.Start)
	if err != nil {
		b.problem("start: %v", err)
	}
	limit, err := clock(day.End)
	if err != nil {
		b.problem("end: %v", err)
	}
	plan := DayPlan{Title: day.Title, Start: start, Limit: limit}
	now := start
	for i, blk := range day.Blocks {
		b.where = fmt.Sprintf("day %d, block %d", n, i+1)
		for _, r := range b.block(blk) {
			r.Start = now
			now += r.Minutes
			if r.Kind == RowBreak {
				plan.Breaks += r.Minutes
			} else {
				plan.Teaching += r.Minutes
			}
			plan.Rows = append(plan.Rows, r)
		}
	}
	b.where = ""
	if limit > 0 && now > limit {
		b.problem("day %d ends at %s, after its end %s: cut %s", n, Clock(now), day.End, Duration(now-limit))
	}
	if plan.Teaching < MinTeaching || plan.Teaching > MaxTeaching {
		b.problem("day %d has %s of teaching; a day has %s to %s", n, Duration(plan.Teaching), Duration(MinTeaching), Duration(MaxTeaching))
	}
	return plan
}

func (b *builder) block(blk Block) []Row {
	kind := blk.Kind()
	if kind != "lab" && (len(blk.Steps) > 0 || blk.Rotation > 0 || blk.Sync > 0) {
		b.problem("steps, rotation and sync belong to lab blocks")
	}
	if kind != "lab" && kind != "" && blk.Minutes <= 0 {
		b.problem("%s block has no minutes", kind)
	}
	switch kind {
	case "deck":
		title := b.titles[blk.Deck]
		if title == "" {
			title = blk.Deck
		}
		return []Row{{Minutes: blk.Minutes, Kind: RowLecture, Text: title, Deck: blk.Deck, Note: blk.Note}}
	case "break":
		return []Row{{Minutes: blk.Minutes, Kind: RowBreak, Text: blk.Break, Note: blk.Note}}
	case "activity":
		return []Row{{Minutes: blk.Minutes, Kind: RowActivity, Text: blk.Activity, Note: blk.Note}}
	case "lab":
		return b.lab(blk)
	}
	b.problem("a block is exactly one of deck, lab, break or activity")
	return nil
}

// lab expands a lab block: the lab's lecture (the first time the lab appears), then each step solo and as a mob,
// then the sync point.
func (b *builder) lab(blk Block) []Row {
	if blk.Minutes != 0 {
		b.problem("lab %d: a lab block states no minutes (they come from labs/*/lab.yaml)", blk.Lab)
	}
	l, ok := b.labs[blk.Lab]
	if !ok {
		b.problem("lab %d does not exist (or has no lab.yaml)", blk.Lab)
		return nil
	}
	steps := blk.Steps
	if len(steps) == 0 {
		for i := range l.Steps {
			steps = append(steps, i+1)
		}
	}
	var rows []Row
	if !b.lectured[l.Number] {
		b.lectured[l.Number] = true
		if l.Lecture <= 0 {
			b.problem("lab %d: labs/%s/lab.yaml gives no lecture minutes", l.Number, l.Slug)
		}
		rows = append(rows, Row{Minutes: l.Lecture, Kind: RowLecture, Text: l.Title, Deck: l.Deck(), Lab: l.Number})
	}
	rot := b.a.rotation(blk)
	for _, n := range steps {
		if n < 1 || n > len(l.Steps) {
			b.problem("lab %d has no step %d (it has %d)", l.Number, n, len(l.Steps))
			continue
		}
		if b.stepDone[[2]int{l.Number, n}] {
			b.problem("lab %d step %d is scheduled twice", l.Number, n)
			continue
		}
		b.stepDone[[2]int{l.Number, n}] = true
		s := l.Steps[n-1]
		if s.Solo <= 0 || s.Mob <= 0 {
			b.problem("lab %d step %d: labs/%s/lab.yaml gives no solo or mob minutes", l.Number, n, l.Slug)
		}
		rows = append(rows,
			Row{Minutes: s.Solo, Kind: RowSolo, Text: s.Title, Lab: l.Number, Step: n},
			Row{Minutes: s.Mob, Kind: RowMob, Text: s.Title, Lab: l.Number, Step: n, Rotation: rot})
	}
	rows = append(rows, Row{Minutes: b.a.sync(blk), Kind: RowSync, Text: l.Title, Lab: l.Number, Steps: slices.Clone(steps)})
	rows[0].Note = blk.Note
	return rows
}

// unscheduled reports the labs and steps no block covers.
func (b *builder) unscheduled(labs []Lab) {
	for _, l := range labs {
		var missing []int
		for i := range l.Steps {
			if !b.stepDone[[2]int{l.Number, i + 1}] {
				missing = append(missing, i+1)
			}
		}
		switch {
		case len(l.Steps) == 0:
			b.problem("lab %d (%s) has no steps in its lab.yaml, so it cannot be timed", l.Number, l.Slug)
		case !b.lectured[l.Number]:
			b.problem("lab %d (%s) is not in the agenda", l.Number, l.Slug)
		case len(missing) > 0:
			b.problem("lab %d (%s): step(s) %v are in no block", l.Number, l.Slug, missing)
		}
	}
}
