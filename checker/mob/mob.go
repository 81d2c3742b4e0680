// Package mob keeps the rotation of a mob-programming session: who drives, who navigates, and when to switch. The
// rotation is stored in .msglabs/mob.json (atomically, like the progress), so it survives a restart of the checker
// or of the machine: the current turn is computed from when the rotation started, not counted by a running timer.
package mob

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"msglabs/checker/safefile"
)

// File is the mob state relative to the kit root.
const File = ".msglabs/mob.json"

// DefaultMinutes is a turn's length when none is given.
const DefaultMinutes = 7

// State is one mob rotation.
type State struct {
	Members []string  `json:"members"`
	Minutes int       `json:"minutes"`
	Index   int       `json:"index"` // the driver of the turn that started at Start
	Start   time.Time `json:"start"` // when turn Index started
}

// New starts a rotation with the first member driving now.
func New(members []string, minutes int, now time.Time) (State, error) {
	var clean []string
	for _, m := range members {
		for _, f := range strings.FieldsFunc(m, func(r rune) bool { return r == ',' || r == ' ' }) {
			clean = append(clean, f)
		}
	}
	if len(clean) < 2 {
		return State{}, errors.New("a mob needs at least two members (a driver and a navigator)")
	}
	if minutes <= 0 {
		return State{}, fmt.Errorf("minutes must be positive, not %d", minutes)
	}
	return State{Members: clean, Minutes: minutes, Start: now}, nil
}

// Valid reports whether the state describes a rotation.
func (s State) Valid() bool { return len(s.Members) >= 2 && s.Minutes > 0 && !s.Start.IsZero() }

// Turn is the length of one turn.
func (s State) Turn() time.Duration { return time.Duration(s.Minutes) * time.Minute }

// Now is the rotation at one moment.
type Now struct {
	Driver, Navigator string
	Index             int           // the driver's position in Members
	Left              time.Duration // until the next rotation
	Rotations         int           // turns completed since Start
	Next              string        // who drives next
}

// At returns who drives and navigates at now, and how long the turn still lasts.
func (s State) At(now time.Time) Now {
	if !s.Valid() {
		return Now{}
	}
	el := now.Sub(s.Start)
	if el < 0 {
		el = 0
	}
	k := int(el / s.Turn())
	n := len(s.Members)
	i := (s.Index + k) % n
	return Now{
		Driver: s.Members[i], Navigator: s.Members[(i+1)%n], Next: s.Members[(i+1)%n],
		Index: i, Left: s.Turn() - el%s.Turn(), Rotations: k,
	}
}

// Advance moves Start and Index to the turn running at now, so the stored state stays small and readable. It
// reports whether a rotation happened.
func (s *State) Advance(now time.Time) bool {
	if !s.Valid() {
		return false
	}
	at := s.At(now)
	if at.Rotations == 0 {
		return false
	}
	s.Start = s.Start.Add(time.Duration(at.Rotations) * s.Turn())
	s.Index = at.Index
	return true
}

// Skip ends the current turn now: the next member drives from now on.
func (s *State) Skip(now time.Time) {
	if !s.Valid() {
		return
	}
	s.Index = (s.At(now).Index + 1) % len(s.Members)
	s.Start = now
}

// Load reads the mob state at path; ok is false when there is none (or it is unreadable).
func Load(path string) (State, bool) {
	data, err := os.ReadFile(path)
	if err != nil {
		return State{}, false
	}
	var s State
	if json.Unmarshal(data, &s) != nil || !s.Valid() {
		return State{}, false
	}
	s.Index %= len(s.Members)
	if s.Index < 0 {
		s.Index = 0
	}
	return s, true
}

// Save writes the state atomically: a temporary file next to it, then a rename.
func Save(path string, s State) error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("save mob: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("save mob: %w", err)
	}
	if err := safefile.Write(path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("save mob: %w", err)
	}
	return nil
}

// Remove ends the rotation (the file goes away).
func Remove(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("end mob: %w", err)
	}
	return nil
}

// Clock formats a countdown as m:ss.
func Clock(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	s := int((d + time.Second - 1) / time.Second) // round up: 0:01 until it is really over
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}
