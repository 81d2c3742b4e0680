package room

import (
	"errors"
	"strings"
	"testing"
)

func validEvent() Event {
	return Event{ID: NewID(), Attendee: "ann", Lab: "05-idempotent-consumer", Step: 1, Result: ResultFail, Marker: "DUPLICATE", Hints: 2, Seconds: 600}
}

func TestValidateAcceptsARealEvent(t *testing.T) {
	if err := validEvent().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestValidateRefusesWhatTheGridCannotShow(t *testing.T) {
	cases := map[string]func(*Event){
		"id":             func(e *Event) { e.ID = "m-1" },
		"empty attendee": func(e *Event) { e.Attendee = "" },
		"control chars":  func(e *Event) { e.Attendee = "ann\x1b[31m" },
		"long attendee":  func(e *Event) { e.Attendee = strings.Repeat("a", maxName+1) },
		"lab":            func(e *Event) { e.Lab = "../etc" },
		"step":           func(e *Event) { e.Step = -1 },
		"hints":          func(e *Event) { e.Hints = maxHints + 1 },
		"seconds":        func(e *Event) { e.Seconds = -5 },
		"result":         func(e *Event) { e.Result = "great" },
		"marker":         func(e *Event) { e.Marker = "WRONG" },
		"pass marker":    func(e *Event) { e.Result, e.Marker = ResultPass, "LOST" },
	}
	for name, spoil := range cases {
		e := validEvent()
		spoil(&e)
		if err := e.Validate(); !errors.Is(err, ErrBadEvent) {
			t.Errorf("%s: Validate(%+v) = %v, want ErrBadEvent", name, e, err)
		}
	}
}

func TestDecodeRefusesUnknownFieldsAndBigBodies(t *testing.T) {
	e := validEvent()
	body := `{"id":"` + e.ID + `","attendee":"ann","lab":"01-temporal-coupling","step":1,"result":"pass","hints":0,"seconds":1,"code":"package main"}`
	if _, err := Decode([]byte(body)); !errors.Is(err, ErrBadEvent) {
		t.Errorf("an event with a field it must never carry (code) was accepted: %v", err)
	}
	if _, err := Decode([]byte(strings.Repeat(" ", maxEventBytes+1))); !errors.Is(err, ErrBadEvent) {
		t.Errorf("a body over %d bytes was accepted: %v", maxEventBytes, err)
	}
}

func TestCleanName(t *testing.T) {
	for in, want := range map[string]string{" ann ": "ann", "b\tob": "bob", strings.Repeat("é", 50): strings.Repeat("é", maxName)} {
		if got := CleanName(in); got != want {
			t.Errorf("CleanName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestValidRoom(t *testing.T) {
	for _, ok := range []string{"workshop", "berlin-1", "a"} {
		if err := ValidRoom(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "Berlin", "-x", "a b", "a.b", strings.Repeat("a", 31)} {
		if ValidRoom(bad) == nil {
			t.Errorf("room name %q was accepted", bad)
		}
	}
}
