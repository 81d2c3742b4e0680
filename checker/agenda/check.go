package agenda

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"msglabs/checker/lab"
)

// Problem is one way the agenda, the guide, the decks and the labs' metadata disagree.
type Problem struct {
	File string // the file to change, relative to the kit root
	Text string // what is wrong, in a sentence
}

func (p Problem) String() string { return p.File + ": " + p.Text }

// CheckLabs is Check for the kit's dev check (checker/devcheck's Options.Agenda): the labs as checker/lab loads
// them, the problems as sentences.
func CheckLabs(root string, labs []lab.Lab) []string {
	var out []string
	for _, p := range Check(root, FromCatalog(labs)) {
		out = append(out, p.String())
	}
	return out
}

// CheckKit checks the kit under root with the labs' metadata read from labs/*/lab.yaml.
func CheckKit(root string) []Problem {
	labs, err := LoadLabs(root)
	if err != nil {
		return []Problem{{File: "labs/", Text: err.Error()}}
	}
	return Check(root, labs)
}

// Check reports every way the kit's teaching material disagrees with itself: a lab, a step or a deck missing from
// the agenda (or scheduled twice); minutes missing, or a deck's stated timing disagreeing with the agenda or the
// lab's lecture minutes; a day that does not fit its hours or the workshop's seven hours of teaching; a deck that
// is not a lecture yet (too many slides, no objectives or recap, a slide without a script); and a guide whose
// generated agenda is out of date.
func Check(root string, labs []Lab) []Problem {
	a, err := Load(root)
	if err != nil {
		return []Problem{{File: File, Text: err.Error()}}
	}
	decks, probs := loadDecks(root)
	titles := map[string]string{}
	for n, d := range decks {
		titles[n] = d.Title
	}
	plan, built := Build(a, labs, titles)
	probs = append(probs, built...)
	probs = append(probs, checkDecks(a, labs, decks)...)
	probs = append(probs, checkGuide(root, plan, labs)...)
	return probs
}

func loadDecks(root string) (map[string]Deck, []Problem) {
	names, err := DeckNames(root)
	if err != nil {
		return nil, []Problem{{File: SlidesDir + "/", Text: err.Error()}}
	}
	decks := map[string]Deck{}
	var probs []Problem
	for _, n := range names {
		d, err := LoadDeck(root, n)
		if err != nil {
			probs = append(probs, Problem{File: SlidesDir + "/" + n + ".md", Text: err.Error()})
			continue
		}
		decks[n] = d
	}
	return decks, probs
}

// checkDecks checks that every deck is in the agenda exactly once, with the minutes it states, and that each is a
// lecture (Deck.lint).
func checkDecks(a *Agenda, labs []Lab, decks map[string]Deck) []Problem {
	var probs []Problem
	add := func(file, format string, args ...any) {
		probs = append(probs, Problem{File: file, Text: fmt.Sprintf(format, args...)})
	}
	want := map[string]int{} // deck → minutes the agenda or the lab gives it
	labDeck := map[string]int{}
	for _, l := range labs {
		labDeck[l.Deck()] = l.Number
		want[l.Deck()] = l.Lecture
		if _, ok := decks[l.Deck()]; !ok {
			add(SlidesDir+"/"+l.Deck()+".md", "lab %d has no deck", l.Number)
		}
	}
	for _, day := range a.Days {
		for _, b := range day.Blocks {
			if b.Kind() != "deck" {
				continue
			}
			if n, ok := labDeck[b.Deck]; ok {
				add(File, "deck %s is lab %d's: schedule it as `lab: %d`", b.Deck, n, n)
				continue
			}
			if _, ok := want[b.Deck]; ok {
				add(File, "deck %s is scheduled twice", b.Deck)
				continue
			}
			want[b.Deck] = b.Minutes
			if _, ok := decks[b.Deck]; !ok {
				add(File, "deck %s does not exist (no %s/%s.md)", b.Deck, SlidesDir, b.Deck)
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(decks)) {
		d := decks[name]
		minutes, ok := want[name]
		switch {
		case !ok:
			add(File, "deck %s is not in the agenda", name)
		case d.Minutes != 0 && d.Minutes != minutes:
			add(d.Path(), "title slide says %d minutes; %s", d.Minutes, source(name, minutes, labDeck))
		}
		for _, p := range d.lint() {
			add(d.Path(), "%s", p)
		}
	}
	return probs
}

func source(deck string, minutes int, labDeck map[string]int) string {
	if _, ok := labDeck[deck]; ok {
		return fmt.Sprintf("its lab's lab.yaml gives `lecture: %d`", minutes)
	}
	return fmt.Sprintf("%s gives it `minutes: %d`", File, minutes)
}

// checkGuide reports a guide whose generated sections are missing or out of date.
func checkGuide(root string, plan *Plan, labs []Lab) []Problem {
	doc, err := os.ReadFile(filepath.Join(root, Guide))
	if err != nil {
		return []Problem{{File: Guide, Text: err.Error()}}
	}
	text, missing := Splice(string(doc), Sections(plan, labs))
	var probs []Problem
	for _, name := range missing {
		probs = append(probs, Problem{File: Guide, Text: fmt.Sprintf("has no generated section %q: add the lines `<!-- agenda:%s begin -->` and `%s`, then run `%s`",
			name, name, endMarker(name), Generator)})
	}
	if text != string(doc) {
		probs = append(probs, Problem{File: Guide, Text: fmt.Sprintf("its agenda is out of date with %s and the labs' lab.yaml: run `%s`", File, Generator)})
	}
	return probs
}
