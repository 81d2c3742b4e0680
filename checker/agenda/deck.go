package agenda

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// SlidesDir is the folder of the decks, relative to the kit root.
const SlidesDir = "slides"

// Deck rules: what every lecture deck of the kit has.
const (
	MaxSlides     = 12 // slides per deck, title and recap included
	MinSentences  = 3  // presenter notes are a script: at least this many sentences per slide
	MaxSentences  = 6  // and at most this many
	ObjectivesTit = "Objectives"
	RecapTitle    = "Recap"
)

// Slide is one slide of a deck: its markdown, its presenter notes and its title (the first line of text, without #).
type Slide struct {
	Title, Body, Notes string
}

// Deck is a parsed lecture deck.
type Deck struct {
	Name    string // file name without .md: "05-idempotent-consumer", "fallacies"
	Title   string // the first slide's title
	Minutes int    // the timing the title slide states ("*20 minutes*"), 0 when it states none
	Slides  []Slide
}

// Path is the deck's path relative to the kit root.
func (d Deck) Path() string { return SlidesDir + "/" + d.Name + ".md" }

// timing matches the title slide's timing line: *20 minutes*.
var timing = regexp.MustCompile(`(?m)^\*(\d+) minutes\*\s*$`)

// ParseDeck splits a deck's markdown: slides are separated by a line `---`; presenter notes follow a line that
// starts with `Note:` (the convention of reveal.js's markdown plugin, and of the TUI).
func ParseDeck(name, md string) Deck {
	md = strings.ReplaceAll(md, "\r\n", "\n")
	d := Deck{Name: name}
	for _, part := range strings.Split("\n"+md+"\n", "\n---\n") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		d.Slides = append(d.Slides, parseSlide(part))
	}
	if len(d.Slides) > 0 {
		d.Title = d.Slides[0].Title
		if m := timing.FindStringSubmatch(d.Slides[0].Body); m != nil {
			d.Minutes, _ = strconv.Atoi(m[1])
		}
	}
	return d
}

func parseSlide(part string) Slide {
	var body, notes []string
	inNotes := false
	for _, l := range strings.Split(part, "\n") {
		if !inNotes && strings.HasPrefix(l, "Note:") {
			inNotes = true
			l = strings.TrimPrefix(l, "Note:")
		}
		if inNotes {
			notes = append(notes, l)
		} else {
			body = append(body, l)
		}
	}
	s := Slide{Body: strings.TrimSpace(strings.Join(body, "\n")), Notes: strings.TrimSpace(strings.Join(notes, "\n"))}
	for _, l := range body {
		if t := strings.TrimSpace(l); t != "" {
			s.Title = strings.TrimSpace(strings.TrimLeft(t, "#"))
			break
		}
	}
	return s
}

// LoadDeck reads slides/<name>.md under root.
func LoadDeck(root, name string) (Deck, error) {
	data, err := os.ReadFile(filepath.Join(root, SlidesDir, name+".md"))
	if err != nil {
		return Deck{}, fmt.Errorf("read deck %s: %w", name, err)
	}
	return ParseDeck(name, string(data)), nil
}

// DeckNames lists the decks under root's slides/ folder (every *.md file but README.md), sorted.
func DeckNames(root string) ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(root, SlidesDir))
	if err != nil {
		return nil, fmt.Errorf("read %s/: %w", SlidesDir, err)
	}
	var out []string
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".md")
		if e.IsDir() || !ok || name == "README" {
			continue
		}
		out = append(out, name)
	}
	sort.Strings(out)
	return out, nil
}

// sentenceEnd matches the end of a sentence: . ! or ? (closing quotes and brackets allowed) before a space or the end.
var sentenceEnd = regexp.MustCompile(`[.!?]["'”’)\]*_]*(\s|$)`)

// Sentences counts the sentences of a presenter note.
func Sentences(s string) int { return len(sentenceEnd.FindAllString(strings.TrimSpace(s), -1)) }

// lint returns what deck d lacks to be a lecture of the kit (see the rules above), each as a sentence.
func (d Deck) lint() []string {
	var out []string
	if len(d.Slides) == 0 {
		return []string{"has no slides"}
	}
	if len(d.Slides) > MaxSlides {
		out = append(out, fmt.Sprintf("has %d slides (at most %d)", len(d.Slides), MaxSlides))
	}
	if d.Minutes == 0 {
		out = append(out, "title slide states no timing (a line `*N minutes*`)")
	}
	if len(d.Slides) < 2 || d.Slides[1].Title != ObjectivesTit {
		out = append(out, fmt.Sprintf("second slide is not %q", "## "+ObjectivesTit))
	}
	if last := d.Slides[len(d.Slides)-1]; !strings.HasPrefix(last.Title, RecapTitle) {
		out = append(out, fmt.Sprintf("last slide is not a recap (a title starting %q)", "## "+RecapTitle))
	}
	for i, s := range d.Slides {
		switch n := Sentences(s.Notes); {
		case s.Notes == "":
			out = append(out, fmt.Sprintf("slide %d (%s) has no presenter notes", i+1, s.Title))
		case n < MinSentences || n > MaxSentences:
			out = append(out, fmt.Sprintf("slide %d (%s) has notes of %d sentences (a script is %d–%d)", i+1, s.Title, n, MinSentences, MaxSentences))
		}
	}
	return out
}
