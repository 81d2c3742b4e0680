// Package story turns what happened in a test into words: a timeline of message events and a failure headline that
// starts with a marker (LOST, DUPLICATE, STALLED, GHOST, CROSSTALK, or INFRA for the environment) the checker
// recognises. The timeline keeps every event structured (who, what kind, which message, which queue), so the same
// record prints as folded text for a person and exports as JSON for the checker's diagrams.
package story

import (
	"fmt"
	"sort"
	"strings"
)

// Marker names a failure mode. The checker keys on these words; they are printed as "LOST: ...".
type Marker string

// The failure modes the labs teach, and INFRA for an environment problem (not a lab failure).
const (
	Lost      Marker = "LOST"
	Duplicate Marker = "DUPLICATE"
	Stalled   Marker = "STALLED"
	Ghost     Marker = "GHOST"
	Crosstalk Marker = "CROSSTALK"
	Infra     Marker = "INFRA"
)

// Markers lists every marker, for parsers.
var Markers = []Marker{Lost, Duplicate, Stalled, Ghost, Crosstalk, Infra}

// Tell builds a failure message: the marker and headline, optional detail lines, then the timeline.
func Tell(m Marker, headline string, details []string, tl *Timeline) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s\n", m, headline)
	for _, d := range details {
		fmt.Fprintf(&b, "  %s\n", d)
	}
	if tl != nil {
		b.WriteString("\ntimeline:\n")
		b.WriteString(tl.String())
	}
	return b.String()
}

// Expect names what a test counts, so verdicts read as sentences: Item "order", From "placed", Done "billed" gives
// "order o-17 was never billed (3 placed, 2 billed)". Cause, when set, says what the test did to provoke it and is
// added to the first finding's headline: "…; message m-1 was redelivered after Billing crashed at "after-commit"".
type Expect struct {
	Item  string // the thing, singular: "order"
	From  string // what made it exist: "placed"
	Done  string // the consequence that must happen exactly once: "billed"
	Cause string // optional: what happened to provoke the failure, in plain words
}

// Because returns a copy of x with its Cause set, for a verdict that says what the test did:
//
//	env.ExactlyOnce(charged.Because("message m-1 was redelivered after Billing crashed"), want, got)
func (x Expect) Because(format string, args ...any) Expect {
	x.Cause = fmt.Sprintf(format, args...)
	return x
}

// Finding is one violated expectation.
type Finding struct {
	Marker   Marker
	Headline string
}

// ExactlyOnce compares the items that should have had a consequence (want) with the consequences observed (got,
// with repeats). It returns the findings in a fixed order: LOST, then DUPLICATE, then GHOST; none when all is well.
// The first finding's headline ends with e.Cause, when there is one.
func ExactlyOnce(e Expect, want, got []string) []Finding {
	counts := map[string]int{}
	for _, id := range got {
		counts[id]++
	}
	wanted := map[string]bool{}
	for _, id := range want {
		wanted[id] = true
	}
	tally := fmt.Sprintf("(%d %s, %d %s)", len(want), e.From, len(got), e.Done)
	var lost, dup, ghost []string
	for _, id := range sorted(wanted) {
		switch n := counts[id]; {
		case n == 0:
			lost = append(lost, id)
		case n > 1:
			dup = append(dup, fmt.Sprintf("%s %s was %s %d times", e.Item, id, e.Done, n))
		}
	}
	for _, id := range sorted(boolKeys(counts)) {
		if !wanted[id] {
			ghost = append(ghost, id)
		}
	}
	var out []Finding
	if len(lost) > 0 {
		out = append(out, Finding{Lost, fmt.Sprintf("%s %s never %s", items(e.Item, lost), be(lost), e.Done) + " " + tally})
	}
	if len(dup) > 0 {
		out = append(out, Finding{Duplicate, strings.Join(dup, "; ") + " " + tally})
	}
	if len(ghost) > 0 {
		out = append(out, Finding{Ghost, fmt.Sprintf("%s %s %s but never %s %s", items(e.Item, ghost), be(ghost), e.Done, e.From, tally)})
	}
	if len(out) > 0 && e.Cause != "" {
		out[0].Headline += "; " + e.Cause
	}
	return out
}

func items(item string, ids []string) string {
	if len(ids) == 1 {
		return item + " " + ids[0]
	}
	const show = 5
	list := strings.Join(ids[:min(show, len(ids))], ", ")
	if len(ids) > show {
		list += fmt.Sprintf(" and %d more", len(ids)-show)
	}
	return item + "s " + list
}

func be(ids []string) string {
	if len(ids) == 1 {
		return "was"
	}
	return "were"
}

func sorted(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func boolKeys(m map[string]int) map[string]bool {
	out := make(map[string]bool, len(m))
	for k := range m {
		out[k] = true
	}
	return out
}
