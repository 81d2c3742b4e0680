package kit

import (
	"fmt"

	"msglabs/checker/lab"
	"msglabs/checker/progress"
)

// Hint is one hint of a step of a lab.
type Hint struct {
	Step      int    // 1-based
	Steps     int    // how many steps the lab has
	StepTitle string // "the relay"
	Index     int    // 0-based, within the step
	Total     int    // hints of the step
	Text      string
}

// Last reports whether this is the step's last hint.
func (h Hint) Last() bool { return h.Index+1 >= h.Total }

// step returns step k of lab n (k = 0: the step the attendee is on).
func (k *Kit) step(n, step int) (lab.Lab, int, error) {
	li, err := k.Info(n)
	if err != nil {
		return lab.Lab{}, 0, err
	}
	if step == 0 {
		step = li.Current
	}
	if step < 1 || step > len(li.Steps) {
		return lab.Lab{}, 0, fmt.Errorf("lab %d has %d steps; there is no step %d", n, len(li.Steps), step)
	}
	if len(li.Steps[step-1].Hints) == 0 {
		return lab.Lab{}, 0, fmt.Errorf("step %d of lab %d has no hints", step, n)
	}
	return li.Lab, step, nil
}

// NextHint returns the next hint not shown yet of step `step` of lab n (0: the step the attendee is on, the first
// that did not pass in the last run), the last one again once all were shown, and remembers it.
func (k *Kit) NextHint(n, step int) (Hint, error) {
	l, step, err := k.step(n, step)
	if err != nil {
		return Hint{}, err
	}
	hints := l.Steps[step-1].Hints
	var i int
	if err := k.Update(func(st *progress.State) { i = st.ShowHint(l.Slug, step, len(hints), k.Now()) }); err != nil {
		return Hint{}, err
	}
	return hintOf(l, step, i), nil
}

// Hints returns every hint of step `step` of lab n (0: the step the attendee is on) and remembers that all were
// shown.
func (k *Kit) Hints(n, step int) ([]Hint, error) {
	l, step, err := k.step(n, step)
	if err != nil {
		return nil, err
	}
	hints := l.Steps[step-1].Hints
	if err := k.Update(func(st *progress.State) { st.SetHintsShown(l.Slug, step, len(hints), k.Now()) }); err != nil {
		return nil, err
	}
	out := make([]Hint, len(hints))
	for i := range hints {
		out[i] = hintOf(l, step, i)
	}
	return out, nil
}

// NextHintIndex is the 0-based hint `checker hint N` would show next for step `step` of lab n, without showing it.
func (k *Kit) NextHintIndex(n, step int) (int, int) {
	l, step, err := k.step(n, step)
	if err != nil {
		return 0, 0
	}
	total := len(l.Steps[step-1].Hints)
	return min(k.Progress.Lab(l.Slug).Step(step).HintsShown, total-1), total
}

func hintOf(l lab.Lab, step, i int) Hint {
	s := l.Steps[step-1]
	return Hint{Step: step, Steps: len(l.Steps), StepTitle: s.Title, Index: i, Total: len(s.Hints), Text: s.Hints[i]}
}
