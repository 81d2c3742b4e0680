package diagram

import (
	"fmt"
	"strings"
)

// BrokerLane is the name of the lane standing for RabbitMQ.
const BrokerLane = "broker"

// testActor is the harness's name for the test itself.
const testActor = "test"

// RowKind says how a row is drawn.
type RowKind int

// Row kinds.
const (
	ArrowRow   RowKind = iota // a message from one lane to another
	MarkRow                   // something that happened to one lane: a crash, a kill, a cut
	NoteRow                   // a line an actor logged
	FailureRow                // the test's verdict, across every lane
)

// Style says what a row means, for colour and emphasis.
type Style string

// Row styles.
const (
	Plain       Style = "plain"
	Setup       Style = "setup"       // declares, binds, consume: the plumbing, drawn faintly
	Redelivered Style = "redelivered" // a delivery the broker had made before
	Refused     Style = "refused"     // a negative confirm or a returned message
	Negative    Style = "negative"    // a nack or reject by a consumer
	Broken      Style = "broken"      // a crash, kill, exit, cut or refused connection
	Repeat      Style = "repeat"      // a consequence seen a second time (in a DUPLICATE failure)
	Fatal       Style = "failure"     // the verdict
)

// Lane is one vertical line of the diagram.
type Lane struct {
	Name   string
	Broker bool
	First  int // the row where the lifeline starts
	Last   int // the row where it ends
	End    int // the row of the crash, kill or exit that ended the process, or -1
}

// Row is one horizontal step of the diagram, in time order.
type Row struct {
	AtMS  float64
	Kind  RowKind
	From  int    // the lane it starts on (marks and notes: their lane; the failure: -1)
	To    int    // the lane an arrow ends on (otherwise From)
	Label string // what the diagram writes
	Text  string // the timeline's words, one line per event folded into the row
	Style Style
	Mark  Mark // what happened, for a MarkRow
}

// Mark is what a MarkRow shows happened to its lane.
type Mark string

// Marks.
const (
	Crashed Mark = "crashed" // a crash or a kill: the process is gone
	Cutoff  Mark = "cut"     // its broker link was cut
	NoEntry Mark = "refused" // it could not connect
	Exited  Mark = "exited"  // it exited by itself
)

// Diagram is a run laid out in lanes and rows. Both renderers draw the same Diagram.
type Diagram struct {
	Test, Lab        string
	Failed           bool
	Marker, Headline string
	Lanes            []Lane
	Rows             []Row
}

// Verdict is the failure's one line: "DUPLICATE: order o-1 was charged 2 times …".
func (d Diagram) Verdict() string {
	if d.Marker == "" {
		return d.Headline
	}
	return d.Marker + ": " + d.Headline
}

// Build lays out a run: the test and the pure publishers left of the broker, the consumers right of it, each in the
// order the export lists them; one row per event, except that an actor's consecutive declares, binds and consume
// (with any log line between them) are folded into one faint row.
func Build(r Run) Diagram {
	d := Diagram{Test: r.Test, Lab: r.Lab, Failed: r.Failed, Marker: r.Marker, Headline: r.Headline}
	index := d.lanes(r)
	for i := 0; i < len(r.Events); i++ {
		ev := r.Events[i]
		if isSetup(ev.Kind) {
			j := i
			for j+1 < len(r.Events) && r.Events[j+1].Actor == ev.Actor && folds(r.Events, j+1) {
				j++
			}
			d.Rows = append(d.Rows, setupRow(r.Events[i:j+1], index))
			i = j
			continue
		}
		d.Rows = append(d.Rows, row(ev, index))
	}
	if r.Failed && !d.hasFailure() {
		d.Rows = append(d.Rows, Row{AtMS: lastAt(r), Kind: FailureRow, From: -1, To: -1, Label: d.Verdict(), Text: d.Verdict(), Style: Fatal})
	}
	if r.Marker == "DUPLICATE" {
		markRepeats(d.Rows)
	}
	d.lifelines()
	return d
}

// lanes orders the lanes and returns the lane index of each actor.
// laneIndex finds an actor's lane, and the broker's (-1 when nothing crossed the wire).
type laneIndex struct {
	actor  map[string]int
	broker int
}

func (d *Diagram) lanes(r Run) laneIndex {
	var order []string
	seen := map[string]bool{}
	add := func(a string) {
		if !seen[a] {
			seen[a] = true
			order = append(order, a)
		}
	}
	for _, a := range r.Actors {
		add(a)
	}
	active, consumer, wire := map[string]bool{}, map[string]bool{}, false
	for _, ev := range r.Events {
		add(ev.Actor)
		if ev.Kind != Failure {
			active[ev.Actor] = true
		}
		switch ev.Kind {
		case Deliver, Ack, Nack, Reject, Consume:
			consumer[ev.Actor] = true
		}
		if onWire(ev.Kind) {
			wire = true
		}
	}
	var left, right []string
	for _, a := range order {
		switch {
		case !active[a]:
		case a == testActor:
			left = append([]string{a}, left...)
		case consumer[a] && wire:
			right = append(right, a)
		default:
			left = append(left, a)
		}
	}
	index := laneIndex{actor: map[string]int{}, broker: -1}
	place := func(name string) int {
		d.Lanes = append(d.Lanes, Lane{Name: name, First: -1, Last: -1, End: -1})
		return len(d.Lanes) - 1
	}
	for _, a := range left {
		index.actor[a] = place(a)
	}
	if wire {
		index.broker = place(BrokerLane)
		d.Lanes[index.broker].Broker = true
	}
	for _, a := range right {
		index.actor[a] = place(a)
	}
	return index
}

func onWire(k Kind) bool {
	switch k {
	case Publish, Deliver, Ack, Nack, Reject, Confirm, Refuse, Return, Consume, Declare, Bind:
		return true
	}
	return false
}

func isSetup(k Kind) bool { return k == Declare || k == Bind || k == Consume }

// folds reports whether event i belongs in the setup row before it: a declare, bind or consume, or a log line of the
// same actor between two of them ("prefetch set to 1").
func folds(evs []Event, i int) bool {
	if isSetup(evs[i].Kind) {
		return true
	}
	return evs[i].Kind == Log && i+1 < len(evs) && evs[i+1].Actor == evs[i].Actor && isSetup(evs[i+1].Kind)
}

// toBroker reports whether an event's arrow points at the broker (the actor sent something) rather than away.
func toBroker(k Kind) bool {
	switch k {
	case Deliver, Confirm, Refuse, Return:
		return false
	}
	return true
}

func row(ev Event, index laneIndex) Row {
	lane := index.actor[ev.Actor]
	r := Row{AtMS: ev.AtMS, From: lane, To: lane, Label: ev.Text, Text: ev.Text, Style: Plain}
	switch ev.Kind {
	case Crash, Kill:
		r.Kind, r.Style, r.Mark = MarkRow, Broken, Crashed
	case Cut:
		r.Kind, r.Style, r.Mark = MarkRow, Broken, Cutoff
	case RefusedConnection:
		r.Kind, r.Style, r.Mark = MarkRow, Broken, NoEntry
	case Exit:
		r.Kind, r.Style, r.Mark = MarkRow, Broken, Exited
	case Failure:
		r.Kind, r.Style, r.From, r.To = FailureRow, Fatal, -1, -1
	case Log:
		r.Kind = NoteRow
	default:
		r.Kind = ArrowRow
		r.Label, r.Style = arrowLabel(ev), arrowStyle(ev)
		if toBroker(ev.Kind) {
			r.To = index.broker
		} else {
			r.From = index.broker
		}
	}
	return r
}

func arrowLabel(ev Event) string {
	what := strings.TrimSpace(ev.Message)
	join := func(parts ...string) string {
		var out []string
		for _, p := range parts {
			if p != "" {
				out = append(out, p)
			}
		}
		return strings.Join(out, " ")
	}
	peer := func(prep string) string {
		if ev.Peer == "" {
			return ""
		}
		return prep + " " + ev.Peer
	}
	switch ev.Kind {
	case Publish:
		return join("publish", what, peer("→"))
	case Deliver:
		if ev.Redelivered {
			return join("REDELIVERED", what, peer("from"))
		}
		return join("deliver", what, peer("from"))
	case Refuse:
		return join("REFUSED", what)
	case Return:
		return join("RETURNED", what)
	}
	return join(string(ev.Kind), what)
}

func arrowStyle(ev Event) Style {
	switch {
	case ev.Kind == Deliver && ev.Redelivered:
		return Redelivered
	case ev.Kind == Refuse || ev.Kind == Return:
		return Refused
	case ev.Kind == Nack || ev.Kind == Reject:
		return Negative
	}
	return Plain
}

// setupRow folds an actor's consecutive declares, binds and consume (and log lines between them) into one faint
// arrow to the broker.
func setupRow(evs []Event, index laneIndex) Row {
	var parts, texts []string
	for i := 0; i < len(evs); i++ {
		k := evs[i].Kind
		if !isSetup(k) {
			continue // a log line folded in: its words are in the row's text
		}
		names := []string{evs[i].Peer}
		for i+1 < len(evs) && evs[i+1].Kind == k {
			i++
			names = append(names, evs[i].Peer)
		}
		parts = append(parts, strings.TrimSpace(string(k)+" "+strings.Join(nonEmpty(names), ", ")))
	}
	for _, ev := range evs {
		texts = append(texts, ev.Text)
	}
	lane := index.actor[evs[0].Actor]
	return Row{AtMS: evs[0].AtMS, Kind: ArrowRow, From: lane, To: index.broker, Label: strings.Join(parts, " · "),
		Text: strings.Join(texts, "\n"), Style: Setup}
}

func nonEmpty(ss []string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// markRepeats marks the notes that say again what an earlier note said (the second "charged o-1 …", labelled "×2"):
// in a DUPLICATE failure those are the consequences that happened more than once.
func markRepeats(rows []Row) {
	count := map[string]int{}
	for i := range rows {
		if rows[i].Kind != NoteRow {
			continue
		}
		count[rows[i].Text]++
		if n := count[rows[i].Text]; n > 1 {
			rows[i].Style = Repeat
			rows[i].Label = fmt.Sprintf("%s  (×%d)", rows[i].Label, n)
		}
	}
}

func (d *Diagram) hasFailure() bool {
	for _, r := range d.Rows {
		if r.Kind == FailureRow {
			return true
		}
	}
	return false
}

// lifelines sets where each lane's line starts and ends: from its first row to its last, the broker's over every row
// before the verdict.
func (d *Diagram) lifelines() {
	touch := func(lane, row int) {
		if lane < 0 {
			return
		}
		l := &d.Lanes[lane]
		if l.First < 0 {
			l.First = row
		}
		l.Last = row
	}
	for i, r := range d.Rows {
		touch(r.From, i)
		touch(r.To, i)
		if r.Kind == MarkRow && (r.Mark == Crashed || r.Mark == Exited) && d.Lanes[r.From].End < 0 {
			d.Lanes[r.From].End = i
		}
	}
	last := len(d.Rows) - 1
	for last > 0 && d.Rows[last].Kind == FailureRow {
		last--
	}
	for i := range d.Lanes {
		if d.Lanes[i].Broker {
			d.Lanes[i].First, d.Lanes[i].Last = 0, max(0, last)
		}
	}
}

func lastAt(r Run) float64 {
	if len(r.Events) == 0 {
		return 0
	}
	return r.Events[len(r.Events)-1].AtMS
}
