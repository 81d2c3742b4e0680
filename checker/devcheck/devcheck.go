// Package devcheck is `checker dev check`, the maintainers' check of the kit's conventions: what a contributor must
// not forget when writing or changing a lab. Every rule reports the file, what is wrong and the fix. A rule that the
// kit does not meet yet everywhere can be pending: its problems are reported and do not fail the check, until
// Enforced says otherwise.
package devcheck

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"msglabs/checker/lab"
)

// Rule names one convention.
type Rule string

// The rules, in the order the check runs them.
const (
	RuleMeta         Rule = "meta"          // every lab folder loads (lab.yaml valid, edit files there, one package)
	RuleNumbers      Rule = "numbers"       // numbers run 1, 2, 3 … without a gap
	RuleReadme       Rule = "readme"        // every lab has README.md; generated parts are current
	RuleSteps        Rule = "steps"         // every step has a title, a concept, solo and mob minutes
	RuleTodo         Rule = "todo"          // every shipped edit file has a TODO(lab)
	RuleTestHeader   Rule = "test-header"   // every lab test file starts with "// Do not edit: …"
	RuleSolution     Rule = "solution"      // every edit file has its solution, with build line and reason
	RulePackage      Rule = "package"       // tests, solutions and fixtures say the lab's package
	RuleHints        Rule = "hints"         // 2–4 hints per step, the last near-code
	RuleLinks        Rule = "links"         // at least one link to the canonical docs in every step
	RuleSlides       Rule = "slides"        // slides/NN-slug.md exists and has presenter notes
	RuleSlideNotes   Rule = "slide-notes"   // every slide of the deck has notes
	RuleTests        Rule = "tests"         // every Test* is listed in exactly one step; every listed test exists
	RuleSnapshots    Rule = "snapshots"     // step-wise solution snapshots where a file changes in several steps
	RuleMistakes     Rule = "mistakes"      // mistake fixtures exist and are well-formed
	RuleMistakeCount Rule = "mistake-count" // at least Limits.MinMistakes mistakes per lab
	RulePlanted      Rule = "planted"       // the planted bug of every step in which the attendee writes a test
	RuleOutputs      Rule = "outputs"       // the README shows each step's failure, annotated with its test
	RuleHeadline     Rule = "headline"      // the README's failure headlines equal what the starter prints (runs it)
	RuleSleep        Rule = "sleep"         // no time.Sleep in lab tests
	RuleAgenda       Rule = "agenda"        // the instructor guide's agenda agrees with the metadata
	RuleFmt          Rule = "fmt"           // gofmt, of the shipped starters and everything else
	RuleVet          Rule = "vet"           // go vet of the shipped starters and of the solutions (-tags solution)
	RuleUnannotated  Rule = "unannotated"   // failure output in a README that no annotation vouches for
	RuleCarried      Rule = "carried"       // every starter keeps what earlier labs fixed (Lessons)
)

// Describe says in one line what each rule checks, for `checker dev check --list`.
var Describe = map[Rule]string{
	RuleMeta:         "every lab folder loads: lab.yaml is valid, its edit files exist, its Go files are one package",
	RuleNumbers:      "lab numbers run 1, 2, 3 … without a gap (the number is the folder's prefix)",
	RuleReadme:       "every lab has README.md, and every generated part (tables, headings, Next:, counts) is current",
	RuleSteps:        "every step has a title, a concept, and solo and mob minutes",
	RuleTodo:         "every shipped edit file marks its change sites with // TODO(lab):",
	RuleTestHeader:   "every lab test file but the ones the attendee writes in starts with `// Do not edit: …`",
	RuleSolution:     "every edit file has solutions/NN-slug/<file>: //go:build solution, a blank line, // Why this fix: (a test file: Why this test:) … one good answer, not the only one",
	RulePackage:      "test files, solutions and mistake fixtures use the lab's package",
	RuleHints:        "every step has 2–4 hints, the last one near-code",
	RuleLinks:        "every step links the canonical documentation at least once (in a hint or its concept)",
	RuleSlides:       "slides/NN-slug.md exists and has presenter notes (Note:)",
	RuleSlideNotes:   "every slide of every deck has presenter notes",
	RuleTests:        "every Test* of the lab is listed in exactly one step (TestChaos in none); every listed test exists",
	RuleSnapshots:    "a file changed in several steps has solutions/NN-slug/step-K/<file> for each of them but the last",
	RuleMistakes:     "every mistake has testdata/mistakes/<name>/ with edit files headed // Mistake <name>: <says>",
	RuleMistakeCount: "every lab has at least Limits.MinMistakes mistakes",
	RulePlanted:      "every step with `written:` has testdata/planted/<name>/ replacing the lab's own code, headed // Planted bug <name>: <bug>",
	RuleOutputs:      "each step's first failing test has an annotated output block (<!-- output: TestX -->) in the lab README",
	RuleHeadline:     "each annotated output's headline equals what the shipped starter prints (runs the starter)",
	RuleSleep:        "lab tests never call time.Sleep (wait for a condition, bounded, instead)",
	RuleAgenda:       "the instructor guide's agenda agrees with the metadata",
	RuleFmt:          "gofmt: every Go file, the edit files as shipped",
	RuleVet:          "go vet: the shipped starters, the solutions (-tags solution), shared/ and checker/",
	RuleUnannotated:  "every failure headline in a lab README is annotated with the test that prints it",
	RuleCarried:      "every starter keeps what earlier labs fixed: manual acks after lab 3, confirms after 4, no in-process sleeps after 8, lab 8's delay queues in lab 9",
}

// Enforced says which rules fail the check. A new rule can start pending (false: reported, not failing) while the
// labs catch up with it; every rule is enforced today.
var Enforced = map[Rule]bool{
	RuleMeta: true, RuleNumbers: true, RuleReadme: true, RuleSteps: true, RuleTodo: true, RuleTestHeader: true,
	RuleSolution: true, RulePackage: true, RuleHints: true, RuleSlides: true, RuleTests: true, RuleSnapshots: true,
	RuleMistakes: true, RuleOutputs: true, RuleHeadline: true, RuleAgenda: true, RuleFmt: true, RuleVet: true,
	RulePlanted: true, RuleUnannotated: true,
	RuleLinks: true, RuleSlideNotes: true, RuleMistakeCount: true, RuleSleep: true, RuleCarried: true,
}

// Limits are the numbers the rules check against.
type Limits struct {
	MinHints, MaxHints int // per step
	MinMistakes        int // per lab
}

// DefaultLimits are the kit's targets (issue 9: 2–4 hints; issue 8: at least four mistakes per lab).
var DefaultLimits = Limits{MinHints: 2, MaxHints: 4, MinMistakes: 4}

// Problem is one broken convention.
type Problem struct {
	Rule    Rule
	File    string // relative to the kit root, with :line when known
	What    string
	Fix     string
	Pending bool // the rule is not enforced yet
	Infra   bool // a service the check needed was not there: not the kit's fault
}

func (p Problem) String() string {
	s := p.File + ": " + p.What
	if p.Fix != "" {
		s += "; fix: " + p.Fix
	}
	return s
}

// Options select what to check.
type Options struct {
	Labs   []int    // only these labs (kit-wide rules still run); nil means every lab
	Rules  []Rule   // only these rules; nil means all
	Skip   []Rule   // not these rules
	Env    []string // MSGLABS_* variables for the rules that run a lab's tests
	Limits Limits   // zero value means DefaultLimits
	// Enforce overrides Enforced for some rules (a test raising a pending rule).
	Enforce map[Rule]bool
	// Lessons replace the kit's Lessons (a test's own); nil means Lessons.
	Lessons []Lesson
	// Agenda, when set, checks the instructor guide against the labs (checker/agenda's Check).
	Agenda func(root string, labs []lab.Lab) []string
}

func (o Options) wants(r Rule) bool {
	if slices.Contains(o.Skip, r) {
		return false
	}
	return len(o.Rules) == 0 || slices.Contains(o.Rules, r)
}

func (o Options) enforced(r Rule) bool {
	if v, ok := o.Enforce[r]; ok {
		return v
	}
	return Enforced[r]
}

func (o Options) limits() Limits {
	if o.Limits == (Limits{}) {
		return DefaultLimits
	}
	return o.Limits
}

// Report is the outcome of a check.
type Report struct {
	Problems []Problem
	Labs     int // how many labs were checked
}

// Failed reports whether an enforced rule found a problem.
func (r Report) Failed() bool {
	for _, p := range r.Problems {
		if !p.Pending {
			return true
		}
	}
	return false
}

// Infra reports whether a rule could not run for want of a service.
func (r Report) Infra() bool {
	for _, p := range r.Problems {
		if p.Infra {
			return true
		}
	}
	return false
}

// checker collects the problems of one check.
type checker struct {
	c    *lab.Catalog
	o    Options
	labs []lab.Lab
	out  []Problem
}

func (k *checker) add(r Rule, file, fix, format string, args ...any) {
	k.out = append(k.out, Problem{Rule: r, File: file, What: fmt.Sprintf(format, args...), Fix: fix, Pending: !k.o.enforced(r)})
}

// Check runs the selected rules over the kit in c.
func Check(ctx context.Context, c *lab.Catalog, o Options) Report {
	k := &checker{c: c, o: o}
	for _, l := range c.Labs {
		if len(o.Labs) == 0 || slices.Contains(o.Labs, l.Number) {
			k.labs = append(k.labs, l)
		}
	}
	if o.wants(RuleMeta) {
		k.meta()
	}
	if o.wants(RuleNumbers) {
		k.numbers()
	}
	if o.wants(RuleReadme) {
		k.readmes()
	}
	for _, l := range k.labs {
		k.lab(l)
	}
	if o.wants(RuleAgenda) && o.Agenda != nil {
		for _, p := range o.Agenda(c.Root, c.Labs) {
			k.add(RuleAgenda, "the instructor guide", "", "%s", p)
		}
	}
	if o.wants(RuleFmt) {
		k.gofmt(ctx)
	}
	if o.wants(RuleVet) {
		k.vet(ctx)
	}
	if o.wants(RuleHeadline) {
		k.headlines(ctx)
	}
	return Report{Problems: k.out, Labs: len(k.labs)}
}

// lab runs the per-lab rules.
func (k *checker) lab(l lab.Lab) {
	rules := []struct {
		r  Rule
		fn func(lab.Lab)
	}{
		{RuleSteps, k.steps}, {RuleTodo, k.todo}, {RuleTestHeader, k.testHeader}, {RuleSolution, k.solution},
		{RulePackage, k.packages}, {RuleHints, k.hints}, {RuleLinks, k.links}, {RuleSlides, k.slides},
		{RuleSlideNotes, k.slideNotes}, {RuleTests, k.tests}, {RuleSnapshots, k.snapshots},
		{RuleMistakes, k.mistakes}, {RuleMistakeCount, k.mistakeCount}, {RulePlanted, k.planted}, {RuleOutputs, k.outputs},
		{RuleUnannotated, k.unannotated}, {RuleSleep, k.sleep}, {RuleCarried, k.carried},
	}
	for _, rule := range rules {
		if k.o.wants(rule.r) {
			rule.fn(l)
		}
	}
}

// ParseRules reads a comma-separated list of rule names.
func ParseRules(s string) ([]Rule, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []Rule
	for _, f := range strings.Split(s, ",") {
		r := Rule(strings.TrimSpace(f))
		if _, ok := Describe[r]; !ok {
			return nil, fmt.Errorf("unknown rule %q (checker dev check --list shows them)", r)
		}
		out = append(out, r)
	}
	return out, nil
}

// AllRules returns every rule, in check order.
func AllRules() []Rule {
	return []Rule{RuleMeta, RuleNumbers, RuleReadme, RuleSteps, RuleTodo, RuleTestHeader, RuleSolution, RulePackage,
		RuleHints, RuleLinks, RuleSlides, RuleSlideNotes, RuleTests, RuleSnapshots, RuleMistakes, RuleMistakeCount,
		RulePlanted, RuleOutputs, RuleUnannotated, RuleSleep, RuleCarried, RuleAgenda, RuleFmt, RuleVet, RuleHeadline}
}
