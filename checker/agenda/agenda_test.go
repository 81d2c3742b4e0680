package agenda

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"msglabs/checker/lab"
)

// script is presenter notes of four sentences: a script, as Deck.lint wants.
const script = "Note: Say the first thing. Then the second. Ask the room a question? Wait for an answer."

// deckMD returns a lecture deck that passes Deck.lint: a title slide stating its minutes, objectives, a middle
// slide and a recap, each with a script.
func deckMD(title string, minutes int) string {
	return strings.Join([]string{
		"# " + title + "\n\nA subtitle\n\n*" + strconv.Itoa(minutes) + " minutes*\n\n" + script,
		"## Objectives\n\n- one\n\n" + script,
		"## The idea\n\n- a point\n\n" + script,
		"## Recap\n\n- it\n\n" + script,
	}, "\n\n---\n\n") + "\n"
}

// fixtureLabs are two labs: lab 1 with one step, lab 2 with two.
func fixtureLabs() []Lab {
	return []Lab{
		{Number: 1, Slug: "01-first", Title: "First", Lecture: 10, Steps: []Step{{Title: "the one step", Solo: 10, Mob: 10}}},
		{Number: 2, Slug: "02-second", Title: "Second", Lecture: 15, Steps: []Step{
			{Title: "step one", Solo: 15, Mob: 10}, {Title: "step two", Solo: 10, Mob: 10}}},
	}
}

// fixtureAgenda fits fixtureLabs into two days of exactly 7 h of teaching (420 minutes).
const fixtureAgenda = `rotation: 5
sync: 5
days:
  - title: One
    start: "09:00"
    end: "17:00"
    blocks:
      - deck: intro
        minutes: 20
      - lab: 1
      - break: Lunch
        minutes: 60
      - activity: Long exercise
        minutes: 365
  - title: Two
    start: "09:00"
    end: "17:00"
    blocks:
      - lab: 2
        steps: [1]
        rotation: 4
      - break: Coffee
        minutes: 15
      - lab: 2
        steps: [2]
      - activity: Long exercise
        minutes: 335
`

// newKit writes a kit under a temporary root: the agenda, the decks of the labs and of "intro", and a guide with
// markers for every section, then generates the guide. It returns the root.
func newKit(t testing.TB, agendaYAML string, labs []Lab) string {
	t.Helper()
	root := t.TempDir()
	write(t, root, File, agendaYAML)
	write(t, root, "slides/intro.md", deckMD("Welcome", 20))
	guide := "# Guide\n\n<!-- agenda:days begin -->\n<!-- agenda:days end -->\n"
	for _, l := range labs {
		write(t, root, "slides/"+l.Slug+".md", deckMD("Lab "+l.Title, l.Lecture))
		guide += "\n## Lab " + l.Title + "\n\n<!-- agenda:" + labSection(l.Number) + " begin -->\n<!-- agenda:" + labSection(l.Number) + " end -->\n\nQuestions.\n"
	}
	write(t, root, Guide, guide)
	if missing, err := Write(root, labs); err != nil || len(missing) > 0 {
		t.Fatalf("writing the fixture guide: missing sections %v, error %v", missing, err)
	}
	return root
}

func write(t testing.TB, root, rel, content string) {
	t.Helper()
	path := filepath.Join(root, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func read(t testing.TB, root, rel string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// wantProblems fails unless probs contains, for each wanted fragment, a problem whose text contains it, and nothing
// else.
func wantProblems(t testing.TB, probs []Problem, want ...string) {
	t.Helper()
	used := make([]bool, len(probs))
	for _, w := range want {
		found := false
		for i, p := range probs {
			if !used[i] && strings.Contains(p.String(), w) {
				used[i], found = true, true
				break
			}
		}
		if !found {
			t.Errorf("no problem mentions %q; the problems were:\n%s", w, list(probs))
		}
	}
	for i, p := range probs {
		if !used[i] {
			t.Errorf("unexpected problem: %s", p)
		}
	}
}

func list(probs []Problem) string {
	if len(probs) == 0 {
		return "  (none)"
	}
	var b strings.Builder
	for _, p := range probs {
		b.WriteString("  " + p.String() + "\n")
	}
	return b.String()
}

func TestAConsistentKitHasNoProblems(t *testing.T) {
	root := newKit(t, fixtureAgenda, fixtureLabs())
	wantProblems(t, Check(root, fixtureLabs()))
}

func TestBuildTimesLabsFromTheirMetadata(t *testing.T) {
	a, err := Parse([]byte(fixtureAgenda))
	if err != nil {
		t.Fatal(err)
	}
	plan, probs := Build(a, fixtureLabs(), map[string]string{"intro": "Welcome"})
	wantProblems(t, probs)
	got := []string{}
	for _, r := range plan.Days[0].Rows[:5] {
		got = append(got, Clock(r.Start)+" "+string(r.Kind)+" "+strconv.Itoa(r.Minutes))
	}
	want := []string{"09:00 lecture 20", "09:20 lecture 10", "09:30 solo 10", "09:40 mob 10", "09:50 sync 5"}
	if strings.Join(got, ", ") != strings.Join(want, ", ") {
		t.Errorf("day 1 starts\n  %s\nwant\n  %s", strings.Join(got, ", "), strings.Join(want, ", "))
	}
	if d := plan.Days[0]; d.Teaching != 420 || d.Breaks != 60 || Clock(d.End()) != "17:00" {
		t.Errorf("day 1 has %d min of teaching and %d of breaks, ending %s; want 420, 60, 17:00", d.Teaching, d.Breaks, Clock(d.End()))
	}
	slots := plan.LabSlots(2)
	if len(slots) != 2 {
		t.Fatalf("lab 2 sits in %d blocks, want 2 (it is split by steps)", len(slots))
	}
	if first := slots[0].Rows; first[0].Kind != RowLecture || first[2].Rotation != 4 {
		t.Errorf("lab 2's first block: %+v; want its lecture first and a mob rotating every 4 min", first)
	}
	if second := slots[1].Rows; second[0].Kind != RowSolo || second[0].Step != 2 {
		t.Errorf("lab 2's second block starts with %+v; want step 2 alone (the lecture is given once)", second[0])
	}
}

func TestCheckFindsWhatIsMissingFromTheAgenda(t *testing.T) {
	labs := append(fixtureLabs(), Lab{Number: 3, Slug: "03-third", Title: "Third", Lecture: 5, Steps: []Step{{Title: "s", Solo: 5, Mob: 5}}})
	root := newKit(t, fixtureAgenda, labs)
	write(t, root, "slides/orphan.md", deckMD("Orphan", 10))
	noStep2 := strings.Replace(fixtureAgenda, "steps: [2]", "steps: [1]", 1)
	write(t, root, File, noStep2)
	probs := Check(root, labs)
	wantProblems(t, probs,
		"lab 3 (03-third) is not in the agenda",
		"lab 2 step 1 is scheduled twice",
		"lab 2 (02-second): step(s) [2] are in no block",
		"deck orphan is not in the agenda",
		"day 2 has 6 h 25 of teaching", // step 2 of lab 2 (20 min) fell out, the repeated block kept only its sync
		"INSTRUCTORS.md: its agenda is out of date",
	)
}

func TestCheckFindsMinutesThatDisagree(t *testing.T) {
	root := newKit(t, fixtureAgenda, fixtureLabs())
	write(t, root, "slides/intro.md", deckMD("Welcome", 25))
	write(t, root, "slides/01-first.md", deckMD("Lab First", 12))
	wantProblems(t, Check(root, fixtureLabs()),
		"slides/intro.md: title slide says 25 minutes; slides/agenda.yaml gives it `minutes: 20`",
		"slides/01-first.md: title slide says 12 minutes; its lab's lab.yaml gives `lecture: 10`",
	)
}

func TestCheckFindsTheGuideOutOfDateWhenALabChanges(t *testing.T) {
	root := newKit(t, fixtureAgenda, fixtureLabs())
	labs := fixtureLabs()
	labs[0].Steps[0].Solo = 15 // lab.yaml changed: 5 more minutes on day 1
	wantProblems(t, Check(root, labs),
		"INSTRUCTORS.md: its agenda is out of date",
		"day 1 ends at 17:05, after its end 17:00: cut 5 min",
	)
	if _, err := Write(root, labs); err != nil {
		t.Fatal(err)
	}
	guide := read(t, root, Guide)
	if !strings.Contains(guide, "| step 1 alone | the one step | 15 |") {
		t.Errorf("after Write the guide's lab 1 table does not show 15 minutes alone:\n%s", guide)
	}
	wantProblems(t, Check(root, labs), "day 1 ends at 17:05")
}

func TestCheckFindsBlocksThatAreNotOneThing(t *testing.T) {
	bad := strings.Replace(fixtureAgenda, "      - break: Lunch\n        minutes: 60\n",
		"      - break: Lunch\n        deck: intro\n        minutes: 60\n      - lab: 9\n      - break: Tea\n", 1)
	root := newKit(t, fixtureAgenda, fixtureLabs())
	write(t, root, File, bad)
	probs := Check(root, fixtureLabs())
	wantProblems(t, probs,
		"day 1, block 3: a block is exactly one of deck, lab, break or activity",
		"day 1, block 4: lab 9 does not exist",
		"day 1, block 5: break block has no minutes",
		"INSTRUCTORS.md: its agenda is out of date",
	)
}

func TestCheckRejectsAnAgendaOfThreeDaysAndUnknownFields(t *testing.T) {
	if _, err := Parse([]byte("days:\n  - title: x\n    strat: \"09:00\"\n")); err == nil || !strings.Contains(err.Error(), "strat") {
		t.Errorf("an agenda with the unknown field `strat` parsed (error %v); a typo must not drop a day's start", err)
	}
	a, err := Parse([]byte(fixtureAgenda + "  - title: Three\n    start: \"09:00\"\n    end: \"17:00\"\n    blocks:\n      - activity: Extra\n        minutes: 420\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, probs := Build(a, fixtureLabs(), nil)
	wantProblems(t, probs, "has 3 days; the workshop is 2 days")
}

func TestCheckFindsDecksThatAreNotLecturesYet(t *testing.T) {
	root := newKit(t, fixtureAgenda, fixtureLabs())
	outline := "# Welcome\n\n*20 minutes*\n\nNote: One. Two. Three.\n\n---\n\n## What breaks\n\n- a point\n\nNote: A cue.\n\n---\n\n## Costs\n\n- x\n"
	write(t, root, "slides/intro.md", outline)
	wantProblems(t, Check(root, fixtureLabs()),
		`slides/intro.md: second slide is not "## Objectives"`,
		`slides/intro.md: last slide is not a recap`,
		"slides/intro.md: slide 2 (What breaks) has notes of 1 sentences",
		"slides/intro.md: slide 3 (Costs) has no presenter notes",
	)
	long := strings.Repeat("\n\n---\n\n## More\n\n"+script, MaxSlides)
	write(t, root, "slides/intro.md", strings.TrimSuffix(deckMD("Welcome", 20), "\n")+long)
	wantProblems(t, Check(root, fixtureLabs()), "slides/intro.md: has 16 slides (at most 12)", "last slide is not a recap")
}

func TestParseDeckSplitsSlidesAndNotes(t *testing.T) {
	d := ParseDeck("05-x", "# Lab 5 · X\n\n*20 minutes*\n\nNote: Hello there.\nSecond line.\n\n---\n\n## Two\n\nbody `---` inline\n")
	if d.Title != "Lab 5 · X" || d.Minutes != 20 || len(d.Slides) != 2 {
		t.Fatalf("parsed %+v; want title %q, 20 minutes, 2 slides", d, "Lab 5 · X")
	}
	if d.Slides[0].Notes != "Hello there.\nSecond line." || strings.Contains(d.Slides[0].Body, "Hello") {
		t.Errorf("slide 1 notes %q, body %q: the notes must be split from the body", d.Slides[0].Notes, d.Slides[0].Body)
	}
	if d.Slides[1].Title != "Two" || d.Slides[1].Notes != "" {
		t.Errorf("slide 2 is %+v; want title Two and no notes", d.Slides[1])
	}
}

func TestSentences(t *testing.T) {
	for text, want := range map[string]int{
		"One. Two? Three!":                           3,
		"Run `make lab-5`. Read \"REDELIVERED\".":    2,
		"Throughput is 0.8 of a raw publisher (ok).": 1,
		"Ask: \"is it safe?\" Then wait.":            2,
		"":                                           0,
	} {
		if got := Sentences(text); got != want {
			t.Errorf("Sentences(%q) = %d, want %d", text, got, want)
		}
	}
}

func TestFromCatalogKeepsTheLabsMinutes(t *testing.T) {
	labs := FromCatalog([]lab.Lab{{Number: 5, Slug: "05-idempotent-consumer", Title: "Idempotent consumer", Lecture: 20,
		Steps: []lab.Step{{Title: "the redelivery after a crash", Solo: 15, Mob: 10}, {Title: "two copies at once", Solo: 10, Mob: 5}}}})
	if len(labs) != 1 {
		t.Fatalf("converted %d labs, want 1", len(labs))
	}
	if l := labs[0]; l.Number != 5 || l.Deck() != "05-idempotent-consumer" || l.Lecture != 20 || len(l.Steps) != 2 || l.Steps[1].Mob != 5 || l.Minutes() != 60 {
		t.Errorf("lab 5 is %+v (%d min); want deck 05-idempotent-consumer, lecture 20, two steps, 60 minutes", l, l.Minutes())
	}
}

func TestLoadLabsReadsTheKitsLabs(t *testing.T) {
	labs, err := LoadLabs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if len(labs) == 0 || labs[0].Number != 1 || labs[0].Lecture == 0 || len(labs[0].Steps) == 0 {
		t.Fatalf("the kit's labs loaded as %+v; want lab 1 first, with lecture minutes and steps", labs)
	}
}
