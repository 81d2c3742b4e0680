package room

import (
	"fmt"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

func ev(who, lab, result, marker string, hints int, seconds int64) Event {
	return Event{ID: NewID(), Attendee: who, Lab: lab, Step: 1, Result: result, Marker: marker, Hints: hints, Seconds: seconds}
}

func TestViewGridProgressMarkersAndHints(t *testing.T) {
	s := NewState("test")
	s.Apply(ev("bob", "01-temporal-coupling", ResultPass, "", 0, 300), t0)
	s.Apply(ev("ann", "01-temporal-coupling", ResultFail, "LOST", 1, 100), t0)
	s.Apply(ev("ann", "01-temporal-coupling", ResultPass, "", 2, 400), t0.Add(5*time.Minute))
	s.Apply(ev("ann", "05-idempotent-consumer", ResultFail, "DUPLICATE", 3, 60), t0.Add(6*time.Minute))
	s.Apply(ev("bob", "05-idempotent-consumer", ResultFail, "DUPLICATE", 0, 30), t0.Add(7*time.Minute))
	s.Apply(ev("bob", "05-idempotent-consumer", ResultFail, "LOST", 0, 90), t0.Add(8*time.Minute))
	v := s.View(t0.Add(10 * time.Minute))

	if v.Events != 6 || len(v.Attendees) != 2 || v.Attendees[0].Name != "ann" || len(v.Labs) != 2 {
		t.Fatalf("view: %d events, attendees %+v, labs %+v", v.Events, v.Attendees, v.Labs)
	}
	l1, l5 := v.Labs[0], v.Labs[1]
	if l1.Number != 1 || l1.Started != 2 || l1.Passed != 2 || l1.TopMarker != "LOST" || l1.MarkerRuns != 1 {
		t.Errorf("lab 1: %+v, want 2 started, 2 passed, LOST once", l1)
	}
	if l5.Started != 2 || l5.Passed != 0 || l5.Failing != 2 || l5.TopMarker != "DUPLICATE" || l5.MarkerRuns != 2 {
		t.Errorf("lab 5: %+v, want 2 started, none passed, 2 failing, DUPLICATE twice", l5)
	}
	ann5 := v.Attendees[0].Cells[1]
	if ann5.Status != ResultFail || ann5.Marker != "DUPLICATE" || ann5.StuckMinutes != 4 {
		t.Errorf("ann on lab 5: %+v, want failing DUPLICATE, stuck 4 min (arrived at +6, now +10)", ann5)
	}
	bob5 := v.Attendees[1].Cells[1]
	// bob's own clock: first failing run at 30 s, last at 90 s, and 2 minutes since the last arrived.
	if bob5.Marker != "LOST" || bob5.StuckMinutes != 3 || bob5.Runs != 2 {
		t.Errorf("bob on lab 5: %+v, want LOST, stuck 3 min (60 s between his runs + 2 min since), 2 runs", bob5)
	}
	if ann1 := v.Attendees[0].Cells[0]; ann1.Status != ResultPass || ann1.StuckMinutes != 0 || ann1.Hints != 2 {
		t.Errorf("ann on lab 1: %+v, want passed with 2 hints", ann1)
	}
	if len(v.TopHints) != 1 || v.TopHints[0] != (HintView{Name: "ann", Hints: 5}) {
		t.Errorf("most hints: %+v, want only ann with 5 (2 on lab 1, 3 on lab 5)", v.TopHints)
	}
}

func TestStuckCountsFromTheFirstFailureAfterAPass(t *testing.T) {
	s := NewState("test")
	lab := "03-consumer-acks"
	s.Apply(ev("ann", lab, ResultFail, "LOST", 0, 0), t0)
	s.Apply(ev("ann", lab, ResultPass, "", 0, 0), t0.Add(10*time.Minute))
	s.Apply(ev("ann", lab, ResultFail, "LOST", 0, 0), t0.Add(20*time.Minute))
	s.Apply(ev("ann", lab, ResultFail, "LOST", 0, 0), t0.Add(25*time.Minute))
	c := s.View(t0.Add(30 * time.Minute)).Attendees[0].Cells[0]
	if c.StuckMinutes != 10 || !c.Passed {
		t.Fatalf("cell %+v: want stuck 10 min (since the failure after the pass, by arrival times) and passed before", c)
	}
}

func TestStateIsBounded(t *testing.T) {
	s := NewState("test")
	for i := 0; i < maxAttendees+10; i++ {
		s.Apply(ev(fmt.Sprintf("a%03d", i), "01-temporal-coupling", ResultPass, "", 0, 1), t0)
	}
	v := s.View(t0)
	if len(v.Attendees) != maxAttendees || v.Events != maxAttendees+10 || v.Ignored != 10 {
		t.Fatalf("%d attendees shown, %d events, %d ignored; want %d, %d, 10", len(v.Attendees), v.Events, v.Ignored, maxAttendees, maxAttendees+10)
	}
}
