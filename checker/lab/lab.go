// Package lab is the kit's lab metadata: one human-written labs/NN-slug/lab.yaml per lab, read together with the
// facts the files already say (number and slug from the folder name, package from the Go source, seals from the
// generated labs/labs.sum). Everything that needs to know what a lab is reads it from here.
package lab

import (
	"path"
	"slices"
	"strconv"

	"msglabs/shared/story"
)

// MetaFile is the name of the metadata file in every lab folder.
const MetaFile = "lab.yaml"

// Failing is a test that must fail in the code it is run against (the shipped starter, the state before a step, a
// mistake fixture), with the marker its failure must carry.
type Failing struct {
	Test   string `yaml:"test" json:"test"`
	Marker string `yaml:"marker" json:"marker"`
	// Headline, in a mistake's caught, is a piece of the failure's headline that tells this mistake apart from the
	// others (and from the untouched starter) caught by the same test with the same marker. Optional.
	Headline string `yaml:"headline,omitempty" json:"headline,omitempty"`
}

// Step is one concept of a lab: one section of its brief, its own failing tests, its own hints.
type Step struct {
	Title   string `yaml:"title" json:"title"`     // "the redelivery after a crash": shown as "step 1 of 2: …"
	Concept string `yaml:"concept" json:"concept"` // one line: what this step teaches
	Solo    int    `yaml:"solo" json:"solo"`       // minutes for an attendee alone (the instructor guide sums these)
	Mob     int    `yaml:"mob" json:"mob"`         // minutes as a mob
	// Edit lists the files this step changes. Load fills it with the lab's edit list when lab.yaml leaves it out.
	Edit    []string  `yaml:"edit" json:"edit"`
	Failing []Failing `yaml:"failing" json:"failing"`         // fail in the state before this step, each with its marker
	Guards  []string  `yaml:"guards" json:"guards,omitempty"` // pass in the starter; they exist to catch wrong fixes
	Hints   []string  `yaml:"hints" json:"hints"`             // 2–4, progressive: concept → API/SQL + link → near-code
	// Written, when set, makes this a step in which the attendee writes a test of their own (see Written).
	Written *Written `yaml:"written" json:"written,omitempty"`
}

// Written is a test the attendee writes in a step (testing in isolation), in an edit file of the lab (a _test.go
// file they own), against a service of the kit's. The test must pass on the lab as shipped, and fail with Marker
// against the planted bug: the files in PlantedDir/<Planted>/, each replacing the lab file of the same name. A run
// judges the attendee's test both ways; verify judges the reference test (that edit file's solution) both ways.
type Written struct {
	Test    string `yaml:"test" json:"test"`       // the test function the attendee writes, by name
	Marker  string `yaml:"marker" json:"marker"`   // what its failure against the planted bug must say
	Planted string `yaml:"planted" json:"planted"` // names the planted bug: PlantedDir/<Planted>/
	Bug     string `yaml:"bug" json:"bug"`         // one line: what the planted bug does, as the report says it
}

// PlantedDir is where a lab keeps its planted bugs, relative to the lab folder: PlantedDir/<name>/<file>.go replaces
// the lab's <file>.go when a written test is judged against the bug.
const PlantedDir = "testdata/planted"

// Tests returns the step's tests: its failing tests, then its guards, then the test the attendee writes.
func (s Step) Tests() []string {
	out := make([]string, 0, len(s.Failing)+len(s.Guards)+1)
	for _, f := range s.Failing {
		out = append(out, f.Test)
	}
	out = append(out, s.Guards...)
	if s.Written != nil {
		out = append(out, s.Written.Test)
	}
	return out
}

// Mistake is a plausible wrong fix of a step, kept as a fixture under testdata/mistakes/<name>/; verify applies it
// over the solution and requires the Caught test to fail with its marker.
type Mistake struct {
	Name   string  `yaml:"name" json:"name"`
	Step   int     `yaml:"step" json:"step"` // 1-based
	Says   string  `yaml:"says" json:"says"` // what the mistake does wrong, in one line
	Caught Failing `yaml:"caught" json:"caught"`
}

// Chaos says that the lab has a TestChaos (in chaos_test.go) and how many schedules a default chaos run tries.
type Chaos struct {
	Runs int `yaml:"runs" json:"runs"`
}

// ChaosTest is the name of a lab's chaos test. It belongs to no step.
const ChaosTest = "TestChaos"

// MistakesDir is where a lab keeps its mistake fixtures, relative to the lab folder: MistakesDir/<name>/<file>.go.
const MistakesDir = "testdata/mistakes"

// Sealed holds a lab's git blob ids from labs/labs.sum, each keyed by the file's path relative to the lab folder
// (slashes): its tests, its other non-edit files and its shipped edit files.
type Sealed struct {
	Tests   map[string]string `yaml:"-" json:"tests"`
	Lab     map[string]string `yaml:"-" json:"lab"`
	Starter map[string]string `yaml:"-" json:"starter"`
}

// Lab is one lab: its lab.yaml plus what Load derives from the files.
type Lab struct {
	Number  int    `yaml:"-" json:"number"`  // from the folder name: 05-idempotent-consumer → 5
	Slug    string `yaml:"-" json:"slug"`    // the folder name under labs/ and solutions/
	Package string `yaml:"-" json:"package"` // the package clause of the lab's Go files
	// Failure is the lab's headline marker: the marker of its first step's first failing test.
	Failure string `yaml:"-" json:"failure"`

	Title    string    `yaml:"title" json:"title"`
	Summary  string    `yaml:"summary" json:"summary,omitempty"` // one line: what goes wrong, in the shop's words
	Edit     []string  `yaml:"edit" json:"edit,omitempty"`       // every file the attendee edits, over all steps
	Lecture  int       `yaml:"lecture" json:"lecture"`           // minutes of slides/<slug>.md before the lab
	Steps    []Step    `yaml:"steps" json:"steps"`
	Mistakes []Mistake `yaml:"mistakes" json:"mistakes,omitempty"`
	Chaos    *Chaos    `yaml:"chaos" json:"chaos,omitempty"` // nil: the lab has no chaos test

	Sealed Sealed `yaml:"-" json:"sealed"`
}

// Dir is the lab's folder relative to the kit root, with forward slashes: labs/<slug>.
func (l Lab) Dir() string { return "labs/" + l.Slug }

// SolutionDir is the folder of the lab's reference solution relative to the kit root.
func (l Lab) SolutionDir() string { return "solutions/" + l.Slug }

// ImportPath is the lab's Go package path.
func (l Lab) ImportPath() string { return "msglabs/labs/" + l.Slug }

// MetaPath is the path of the lab's lab.yaml relative to the kit root.
func (l Lab) MetaPath() string { return path.Join(l.Dir(), MetaFile) }

// SlidesPath is the path of the lab's deck relative to the kit root.
func (l Lab) SlidesPath() string { return "slides/" + l.Slug + ".md" }

// AllFailing returns every step's failing tests, in step order.
func (l Lab) AllFailing() []Failing {
	var out []Failing
	for _, s := range l.Steps {
		out = append(out, s.Failing...)
	}
	return out
}

// Visible returns the tests a run of the lab runs: every step's failing tests and guards, in step order. TestChaos
// is not among them; it runs on its own.
func (l Lab) Visible() []string {
	var out []string
	for _, s := range l.Steps {
		out = append(out, s.Tests()...)
	}
	return out
}

// Written returns the steps in which the attendee writes a test, by 1-based step number.
func (l Lab) Written() map[int]Written {
	out := map[int]Written{}
	for i, s := range l.Steps {
		if s.Written != nil {
			out[i+1] = *s.Written
		}
	}
	return out
}

// AllHints returns every step's hints, in step order.
func (l Lab) AllHints() []string {
	var out []string
	for _, s := range l.Steps {
		out = append(out, s.Hints...)
	}
	return out
}

// FailingMarker returns the marker the named test must fail with in the shipped starter, and whether it is one of
// the lab's failing tests at all.
func (l Lab) FailingMarker(test string) (string, bool) {
	for _, f := range l.AllFailing() {
		if f.Test == test {
			return f.Marker, true
		}
	}
	return "", false
}

// StepOf returns the 1-based number of the step that lists test (as failing or guard), 0 when none does.
func (l Lab) StepOf(test string) int {
	for i, s := range l.Steps {
		if slices.Contains(s.Tests(), test) {
			return i + 1
		}
	}
	return 0
}

// Mistake returns the mistake with the given name.
func (l Lab) Mistake(name string) (Mistake, bool) {
	for _, m := range l.Mistakes {
		if m.Name == name {
			return m, true
		}
	}
	return Mistake{}, false
}

// IsMarker reports whether m is a lab failure marker of shared/story (INFRA is not one: it is never a lab's fault).
func IsMarker(m string) bool {
	return m != string(story.Infra) && slices.Contains(story.Markers, story.Marker(m))
}

// Markers returns the lab failure markers, in story's order.
func Markers() []string {
	var out []string
	for _, m := range story.Markers {
		if m != story.Infra {
			out = append(out, string(m))
		}
	}
	return out
}

// StepDir is the folder of a lab's step-wise solution snapshots, relative to the solution folder: step-K holds an
// edit file as it is after step K, for every step but the last that changes it.
func StepDir(k int) string { return "step-" + strconv.Itoa(k) }

// StepsChanging returns the 1-based steps whose edit list names file, in order.
func (l Lab) StepsChanging(file string) []int {
	var out []int
	for i, s := range l.Steps {
		if slices.Contains(s.Edit, file) {
			out = append(out, i+1)
		}
	}
	return out
}

// Snapshots returns, by edit file, the steps that need a snapshot solutions/<slug>/step-K/<file>: every step that
// changes the file except the last one.
func (l Lab) Snapshots() map[string][]int {
	out := map[string][]int{}
	for _, f := range l.Edit {
		if steps := l.StepsChanging(f); len(steps) > 1 {
			out[f] = steps[:len(steps)-1]
		}
	}
	return out
}

// StateAfter says where each edit file comes from in "the state after step k" (k = 0: the shipped starter; k =
// len(Steps): the final solution), by file name → path relative to the kit root; "" means the shipped starter.
// The state of a file is its latest snapshot step-J with J ≤ k, else the final solution when the last step that
// changes it is ≤ k, else the starter.
func (l Lab) StateAfter(k int) map[string]string {
	out := map[string]string{}
	for _, f := range l.Edit {
		out[f] = ""
		steps := l.StepsChanging(f)
		if len(steps) > 0 && steps[len(steps)-1] <= k {
			out[f] = path.Join(l.SolutionDir(), f)
			continue
		}
		for _, j := range l.Snapshots()[f] {
			if j <= k {
				out[f] = path.Join(l.SolutionDir(), StepDir(j), f)
			}
		}
	}
	return out
}
