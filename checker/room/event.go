// Package room lets an instructor see the whole room: every attendee's checker, when MSGLABS_ROOM is set, publishes
// a small event after each run to the room's exchange on the room's broker, and `checker room serve` consumes them
// into its own durable queue and shows a live grid of attendees × labs on a web page.
//
// It is built the way the labs teach: the attendee publishes with confirms and a short timeout (a missing room costs a
// run at most a second and one warning line); the dashboard consumes with manual acks, stores each event in
// PostgreSQL under its id before acking (an idempotent consumer: a redelivered or re-sent event counts once) and
// rebuilds its view from the stored events when it restarts (nothing is lost).
//
// An event holds only: its id, the attendee's name, the lab, the step, the result, the marker, the hints used and the
// seconds since the lab was started. Never code, file contents or environment.
package room

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"msglabs/shared/story"
)

// Environment variables an attendee sets to join a room.
const (
	EnvRoom     = "MSGLABS_ROOM"     // the room's name; unset: nothing is ever sent
	EnvAttendee = "MSGLABS_ATTENDEE" // the name shown on the instructor's screen (default: the user name)
)

// Results a run can have, as the room shows them.
const (
	ResultPass       = "pass"        // every test of the lab passed
	ResultFail       = "fail"        // a lab test failed (Marker says how)
	ResultInfra      = "infra"       // RabbitMQ or PostgreSQL was the problem, not the attendee's code
	ResultNotCounted = "not-counted" // the run could not count (edited tests, a test that did not run)
)

// Bounds on what an event may carry; anything outside is refused by the dashboard.
const (
	maxEventBytes = 1024
	maxName       = 40
	maxLab        = 60
	maxHints      = 100
	maxStep       = 20
	maxSeconds    = 7 * 24 * 3600
)

// Event is what an attendee's checker publishes after a run.
type Event struct {
	ID       string `json:"id"`               // unique per run: the dashboard counts each id once
	Attendee string `json:"attendee"`         // "ann"
	Lab      string `json:"lab"`              // the lab's folder name: "05-idempotent-consumer"
	Step     int    `json:"step"`             // the step being worked on, 1-based (0: unknown)
	Result   string `json:"result"`           // ResultPass, ResultFail, ResultInfra or ResultNotCounted
	Marker   string `json:"marker,omitempty"` // LOST, DUPLICATE, … for a failing run
	Hints    int    `json:"hints"`            // hints shown so far for this lab
	Seconds  int64  `json:"seconds"`          // since the attendee started the lab (0: unknown)
}

// ErrBadEvent means a message on the room's queue is not a valid event; the dashboard drops it.
var ErrBadEvent = errors.New("not a room event")

var (
	roomName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,29}$`)
	labName  = regexp.MustCompile(`^[0-9]{2}-[a-z0-9-]+$`)
	idForm   = regexp.MustCompile(`^[0-9a-f]{32}$`)
)

// NewID returns a fresh event id: 16 random bytes in hex.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}

// ValidRoom reports whether name can name a room: lower-case letters, digits and dashes, at most 30.
func ValidRoom(name string) error {
	if !roomName.MatchString(name) {
		return fmt.Errorf("room name %q: use lower-case letters, digits and dashes (at most 30), e.g. \"berlin-1\"", name)
	}
	return nil
}

// Exchange is the room's exchange: attendees publish to it.
func Exchange(room string) string { return "msglabs.room." + room }

// Queue is the dashboard's durable queue, bound to the room's exchange.
func Queue(room string) string { return "msglabs.room." + room + ".dashboard" }

// CleanName makes a user-supplied attendee name fit for the grid: trimmed, control characters removed, at most
// maxName characters.
func CleanName(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return -1
		}
		return r
	}, strings.TrimSpace(s))
	if utf8.RuneCountInString(s) > maxName {
		s = string([]rune(s)[:maxName])
	}
	return strings.TrimSpace(s)
}

// Validate checks an event's fields against the bounds the dashboard accepts.
func (e Event) Validate() error {
	bad := func(what string) error { return fmt.Errorf("%w: %s", ErrBadEvent, what) }
	switch {
	case !idForm.MatchString(e.ID):
		return bad("id is not 32 hex digits")
	case e.Attendee == "" || e.Attendee != CleanName(e.Attendee):
		return bad("attendee name is empty or unclean")
	case len(e.Lab) > maxLab || !labName.MatchString(e.Lab):
		return bad(fmt.Sprintf("lab %q is not a lab folder name", e.Lab))
	case e.Step < 0 || e.Step > maxStep:
		return bad("step out of range")
	case e.Hints < 0 || e.Hints > maxHints:
		return bad("hints out of range")
	case e.Seconds < 0 || e.Seconds > maxSeconds:
		return bad("seconds out of range")
	}
	switch e.Result {
	case ResultPass, ResultNotCounted, ResultInfra:
		if e.Marker != "" && e.Result == ResultPass {
			return bad("a passing run has no marker")
		}
	case ResultFail:
		if e.Marker != "" && !knownMarker(e.Marker) {
			return bad(fmt.Sprintf("marker %q is not one of the kit's", e.Marker))
		}
	default:
		return bad(fmt.Sprintf("result %q", e.Result))
	}
	return nil
}

func knownMarker(m string) bool {
	for _, k := range story.Markers {
		if string(k) == m {
			return true
		}
	}
	return false
}

// Decode reads and validates an event from a message body.
func Decode(body []byte) (Event, error) {
	if len(body) > maxEventBytes {
		return Event{}, fmt.Errorf("%w: %d bytes", ErrBadEvent, len(body))
	}
	var e Event
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		return Event{}, fmt.Errorf("%w: %v", ErrBadEvent, err)
	}
	return e, e.Validate()
}
