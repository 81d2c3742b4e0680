package tui

import (
	"strings"
	"testing"
	"time"

	"msglabs/checker/kittest"
)

// lectureKit is the sample kit with an agenda and four decks: 00-intro, a topic deck the agenda puts right after it
// (zz-early, last by name), lab 1's deck, and a topic deck it puts after lab 1 (aa-late, first by name).
func lectureKit(t *testing.T) string {
	t.Helper()
	root := sampleKit(t)
	deck := func(title, notes string, slides ...string) string {
		out := "# " + title + "\n\n*10 minutes*\n\nNote: " + notes + " opening.\n"
		for i, s := range slides {
			out += "\n---\n\n## " + s + "\n\nbody of " + s + "\n\nNote: " + notes + " note " + string(rune('A'+i)) + ".\n"
		}
		return out
	}
	kittest.Write(t, root, map[string]string{
		"slides/00-intro.md": deck("Welcome", "intro", "Objectives", "Recap"),
		"slides/zz-early.md": deck("Early topic", "early", "Objectives", "Recap"),
		"slides/aa-late.md":  deck("Late topic", "late", "Objectives", "Recap"),
		"slides/agenda.yaml": `days:
  - title: one day
    start: "09:00"
    end: "17:30"
    blocks:
      - deck: 00-intro
        minutes: 10
      - deck: zz-early
        minutes: 10
      - lab: 1
      - deck: aa-late
        minutes: 10
      - lab: 2
`,
	})
	sealKit(t, root)
	return root
}

func (f *fixture) slides() *slidesModel { return f.m.screens[scrSlides].(*slidesModel) }

// TestLecturesInAgendaOrder: L lists every deck in the agenda's order, 00-intro first; the arrows go on from a
// deck's last slide to the next deck, and back.
func TestLecturesInAgendaOrder(t *testing.T) {
	f := newFixture(t, lectureKit(t), false)
	f.press("L")
	v := f.view()
	wantIn(t, v, "lectures", "every deck, in the order of the agenda")
	order := []string{"Welcome", "Early topic", "First lab", "Late topic"}
	at := 0
	for _, title := range order {
		i := strings.Index(v[at:], title)
		if i < 0 {
			t.Fatalf("the index lacks %q after the decks before it (want the agenda's order %v):\n%s", title, order, v)
		}
		at += i
	}
	wantIn(t, v, "day 1 09:00", "10 min")
	f.press("enter")
	wantIn(t, f.view(), "Welcome  slides 1/3")
	f.press("right", "right")
	wantIn(t, f.view(), "slides 3/3", "RECAP")
	f.press("right") // past the last slide: the next deck in the agenda
	wantIn(t, f.view(), "Early topic  slides 1/3")
	f.press("left") // and back to the previous deck's last slide
	wantIn(t, f.view(), "Welcome  slides 3/3")
	f.press("esc")
	wantIn(t, f.view(), "every deck, in the order of the agenda")
	f.press("esc")
	if f.screen() != scrList {
		t.Fatalf("esc from the index shows screen %d, want the list", f.screen())
	}
	// v on a lab opens its own deck.
	f.press("v")
	wantIn(t, f.view(), "First lab  slides 1/3", "Orders vanish")
}

// TestHeadingsAreRendered: `##` is a heading on a slide and in a brief, never two hash signs.
func TestHeadingsAreRendered(t *testing.T) {
	f := newFixture(t, sampleKit(t), false)
	f.press("v", "right")
	v := f.view()
	wantIn(t, v, "slides 2/3", "THE FIX", "• return true")
	wantNotIn(t, v, "## ", "#")
	f.press("esc", "b")
	v = f.view()
	wantIn(t, v, "YOUR TASK", "Make Fixed return true")
	wantNotIn(t, v, "## ")
}

// TestNotesNeverOnTheProjectedScreen: the slide view shows no presenter note on any slide; P (for instructors)
// turns this terminal into the presenter view, with the notes, the next slide and the timer.
func TestNotesNeverOnTheProjectedScreen(t *testing.T) {
	notes := []string{"tell the story of the lost order", "live-code it", "ask who got it"}
	f := newFixture(t, sampleKit(t), true)
	f.press("v")
	for i := range notes {
		wantNotIn(t, f.view(), notes...)
		if i < len(notes)-1 {
			f.press("right")
		}
	}
	f.press("left")
	f.press("P")
	wantIn(t, f.view(), "presenter view (not for the projector)", "slides 2/3", "live-code it.", "next: Recap", "0:00 of 10 min")
	f.clock.Add(75 * time.Second)
	f.send(presenterTickMsg{})
	wantIn(t, f.view(), "1:15 of 10 min")
	f.press("P")
	wantNotIn(t, f.view(), notes...)

	g := newFixture(t, sampleKit(t), false)
	g.press("v", "P")
	wantIn(t, g.view(), "the presenter view is for instructors")
	wantNotIn(t, g.view(), notes...)
}

// TestPresenterFollowsTheProjector: two checkers on one kit, the projector's and the instructor's presenter view,
// follow each other's slides through the position file, whichever the arrow keys were pressed in.
func TestPresenterFollowsTheProjector(t *testing.T) {
	root := sampleKit(t)
	projector := newFixture(t, root, false)
	presenter := newFixture(t, root, true)
	projector.press("v", "right")
	// The instructor opens the deck from the index: it opens at the projector's slide, not at its first.
	presenter.press("L", "enter", "P")
	wantIn(t, presenter.view(), "presenter view", "slides 2/3", "live-code it.")
	projector.press("right")
	presenter.send(slidesPollMsg{})
	wantIn(t, presenter.view(), "slides 3/3", "ask who got it.")
	presenter.press("left")
	projector.send(slidesPollMsg{})
	v := projector.view()
	wantIn(t, v, "slides 2/3", "THE FIX")
	wantNotIn(t, v, "live-code it")
}
