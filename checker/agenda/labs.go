package agenda

import (
	"fmt"

	"msglabs/checker/lab"
)

// Lab is what the agenda needs to know of a lab: who it is and how long its lecture and steps take. The minutes are
// the lab's own (labs/NN-slug/lab.yaml); the agenda never repeats them.
type Lab struct {
	Number  int
	Slug    string
	Title   string
	Lecture int // minutes of the lab's deck, slides/<slug>.md
	Steps   []Step
}

// Step is one step of a lab, with the minutes an attendee works on it alone and then as a mob.
type Step struct {
	Title string
	Solo  int
	Mob   int
}

// Deck is the lab's deck name: its slug (slides/<slug>.md).
func (l Lab) Deck() string { return l.Slug }

// Minutes is the lab's whole time: its lecture and every step solo and as a mob (sync points are the agenda's).
func (l Lab) Minutes() int {
	n := l.Lecture
	for _, s := range l.Steps {
		n += s.Solo + s.Mob
	}
	return n
}

// FromCatalog converts the kit's lab metadata (checker/lab) into what the agenda reads.
func FromCatalog(labs []lab.Lab) []Lab {
	out := make([]Lab, 0, len(labs))
	for _, l := range labs {
		a := Lab{Number: l.Number, Slug: l.Slug, Title: l.Title, Lecture: l.Lecture}
		for _, s := range l.Steps {
			a.Steps = append(a.Steps, Step{Title: s.Title, Solo: s.Solo, Mob: s.Mob})
		}
		out = append(out, a)
	}
	return out
}

// LoadLabs reads every usable lab's lab.yaml under root (checker/lab's loader), in lab order. A lab folder whose
// metadata is broken is left out; Check then reports the agenda block that names it.
func LoadLabs(root string) ([]Lab, error) {
	c, err := lab.Load(root)
	if err != nil {
		return nil, fmt.Errorf("load the labs' metadata: %w", err)
	}
	return FromCatalog(c.Labs), nil
}
