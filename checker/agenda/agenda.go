// Package agenda is the workshop's timetable: slides/agenda.yaml says in which order the two days run the lecture
// decks, the labs and the breaks; each lab's own metadata (labs/NN-slug/lab.yaml) says how many minutes its lecture
// and its steps take. From both, the package computes the schedule, writes the agenda sections of INSTRUCTORS.md,
// and checks that the agenda, the guide, the decks and the labs agree (Check).
package agenda

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// File is the agenda's path relative to the kit root.
const File = "slides/agenda.yaml"

// Workshop shape: the kit is a two-day workshop of about seven hours of teaching a day.
const (
	WorkshopDays = 2
	MinTeaching  = 390 // minutes of teaching a day, at least (6 h 30)
	MaxTeaching  = 450 // and at most (7 h 30)
)

// Defaults for lab blocks that do not say.
const (
	DefaultRotation = 5 // minutes each mob driver keeps the keyboard
	DefaultSync     = 5 // minutes of the sync point that closes a lab block
)

// Agenda is slides/agenda.yaml: the days in order, each a list of blocks.
type Agenda struct {
	Rotation int   `yaml:"rotation"` // default minutes per mob driver (DefaultRotation when 0)
	Sync     int   `yaml:"sync"`     // default minutes of a lab block's sync point (DefaultSync when 0)
	Days     []Day `yaml:"days"`
}

// Day is one workshop day: when it starts, the latest it may end, and its blocks in order.
type Day struct {
	Title  string  `yaml:"title"`
	Start  string  `yaml:"start"` // "09:00"
	End    string  `yaml:"end"`   // the room is ours until then: the computed schedule must end by it
	Blocks []Block `yaml:"blocks"`
}

// Block is one entry of a day. Exactly one of Deck, Lab, Break and Activity is set.
//
// A deck, break or activity block states its minutes. A lab block states none: its lecture and its steps' solo and
// mob minutes come from the lab's lab.yaml, and its sync point from Sync (or the agenda's default).
type Block struct {
	Deck     string `yaml:"deck"`     // a lecture of its own: slides/<deck>.md
	Lab      int    `yaml:"lab"`      // a lab: its deck, then each step solo and as a mob, then the sync point
	Break    string `yaml:"break"`    // a break's name: "Coffee", "Lunch"
	Activity string `yaml:"activity"` // anything else that takes room time: "Set-up check", "Retrospective"
	Minutes  int    `yaml:"minutes"`  // deck, break and activity blocks only

	// Lab blocks only.
	Steps    []int  `yaml:"steps"`    // the steps this block covers (1-based), when a lab is split over blocks; all by default
	Rotation int    `yaml:"rotation"` // minutes per mob driver in this block
	Sync     int    `yaml:"sync"`     // minutes of this block's sync point
	Note     string `yaml:"note"`     // one line shown in the agenda next to the block
}

// Kind names the block's kind: "deck", "lab", "break" or "activity" ("" when none or several are set).
func (b Block) Kind() string {
	var kinds []string
	if b.Deck != "" {
		kinds = append(kinds, "deck")
	}
	if b.Lab != 0 {
		kinds = append(kinds, "lab")
	}
	if b.Break != "" {
		kinds = append(kinds, "break")
	}
	if b.Activity != "" {
		kinds = append(kinds, "activity")
	}
	if len(kinds) != 1 {
		return ""
	}
	return kinds[0]
}

// Load reads and parses the agenda under root.
func Load(root string) (*Agenda, error) {
	data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(File)))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", File, err)
	}
	return Parse(data)
}

// Parse decodes an agenda. Unknown fields are errors, so a typo cannot silently drop a block's minutes.
func Parse(data []byte) (*Agenda, error) {
	var a Agenda
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&a); err != nil {
		return nil, fmt.Errorf("parse %s: %w", File, err)
	}
	return &a, nil
}

// rotation returns the mob rotation of block b.
func (a *Agenda) rotation(b Block) int {
	switch {
	case b.Rotation > 0:
		return b.Rotation
	case a.Rotation > 0:
		return a.Rotation
	}
	return DefaultRotation
}

// sync returns the minutes of block b's sync point.
func (a *Agenda) sync(b Block) int {
	switch {
	case b.Sync > 0:
		return b.Sync
	case a.Sync > 0:
		return a.Sync
	}
	return DefaultSync
}

// clock parses "HH:MM" into minutes after midnight.
func clock(s string) (int, error) {
	h, m, ok := strings.Cut(s, ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if !ok || err1 != nil || err2 != nil || len(m) != 2 || hh < 0 || hh > 23 || mm < 0 || mm > 59 {
		return 0, fmt.Errorf("time %q is not HH:MM", s)
	}
	return hh*60 + mm, nil
}

// Clock formats minutes after midnight as "HH:MM".
func Clock(min int) string { return fmt.Sprintf("%02d:%02d", min/60, min%60) }

// Duration formats minutes as "7 h 05" or "45 min".
func Duration(min int) string {
	if min < 60 {
		return fmt.Sprintf("%d min", min)
	}
	return fmt.Sprintf("%d h %02d", min/60, min%60)
}
