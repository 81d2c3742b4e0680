// Package chaos is a lab's chaos stage: a battery of seeded fault schedules run against the attendee's code, judged by
// the lab's own invariants (the same story markers as the visible tests). A lab's TestChaos calls Run:
//
//	func TestChaos(t *testing.T) {
//		chaos.Run(t, chaos.Battery{Seed: 500, Runs: 8, Scenario: func(env *harness.Env, s *chaos.Schedule) {
//			env.Exec(Schema)
//			billing := env.Spawn("billing", args)
//			s.CrashOn(billing, fault.AfterCommitTo("charges", s.Between(1, 3, "")), fault.BeforeAckOf("m-2"))
//			… publish, s.Chance(30, "m-%d is published twice", i) …, settle, env.ExactlyOnce(…)
//		}})
//	}
//
// Each run gets a fresh harness.Env and a Schedule seeded with seed+i: every choice the scenario asks the Schedule for
// comes from that seed, and every fault fires on an event (a commit, an ack, the nth visit of a crash point), never
// at a time, so a seed always gives the same schedule. When a run fails, its schedule is printed in words after the
// story, with the line that replays exactly that run (bin/checker chaos N --seed S). Without MSGLABS_CHAOS set (the
// checker sets it for the chaos stage) TestChaos skips, so `go test` and the visible tests stay fast.
package chaos

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"msglabs/shared/fault"
	"msglabs/shared/harness"
)

// The environment the checker runs the chaos stage with.
const (
	EnvOn   = "MSGLABS_CHAOS"      // set (to anything) to run TestChaos
	EnvSeed = "MSGLABS_CHAOS_SEED" // the first run's seed (default: the battery's)
	EnvRuns = "MSGLABS_CHAOS_RUNS" // how many runs (default: the battery's)
)

// defaultRuns is used when neither the battery nor the environment says how many runs.
const defaultRuns = 8

// Battery is a lab's chaos stage.
type Battery struct {
	Seed int64 // the first run's seed, fixed per lab (MSGLABS_CHAOS_SEED overrides it)
	Runs int   // how many runs by default (MSGLABS_CHAOS_RUNS overrides it); keep the lab's stage within 10 s
	// Scenario runs one schedule: it builds the lab's world in env, asks s for every choice and fault, and judges
	// the lab's invariants with env (ExactlyOnce, Fail), which stops the run with the story when one is broken.
	Scenario func(env *harness.Env, s *Schedule)
}

// Run runs the battery: runs schedules, run i with seed+i, each a sub-test "seed=S" with its own Env, stopping at the
// first that fails. It skips unless MSGLABS_CHAOS is set.
func Run(t *testing.T, b Battery) {
	t.Helper()
	cfg, err := configure(b, os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.on {
		t.Skipf("the chaos stage runs with `bin/checker chaos %s` (%s is not set)", labNumber(), EnvOn)
	}
	for i := range cfg.runs {
		seed := cfg.seed + int64(i)
		passed := t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			s := NewSchedule(seed)
			t.Cleanup(func() { // registered before the Env's own cleanup, so it runs after it: last words
				if t.Failed() {
					t.Log(s.Report(i+1, cfg.runs))
				}
			})
			b.Scenario(harness.New(t), s)
		})
		if !passed {
			return
		}
	}
}

type config struct {
	on   bool
	seed int64
	runs int
}

// configure reads the battery's seed and runs, as the environment overrides them.
func configure(b Battery, getenv func(string) string) (config, error) {
	c := config{on: getenv(EnvOn) != "", seed: b.Seed, runs: b.Runs}
	if c.runs <= 0 {
		c.runs = defaultRuns
	}
	if v := getenv(EnvSeed); v != "" {
		seed, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return c, fmt.Errorf("%s=%q is not a whole number", EnvSeed, v)
		}
		c.seed = seed
	}
	if v := getenv(EnvRuns); v != "" {
		runs, err := strconv.Atoi(v)
		if err != nil || runs < 1 {
			return c, fmt.Errorf("%s=%q is not a number of runs (1 or more)", EnvRuns, v)
		}
		c.runs = runs
	}
	return c, nil
}

// labNumber is the lab's number from its folder ("05-idempotent-consumer" → "5"), or "N" outside a lab.
func labNumber() string {
	wd, err := os.Getwd()
	if err != nil {
		return "N"
	}
	digits, _, ok := strings.Cut(filepath.Base(wd), "-")
	n, err := strconv.Atoi(digits)
	if !ok || err != nil {
		return "N"
	}
	return strconv.Itoa(n)
}

// Schedule is one run's source of choices, and the record of them in words. All its choices come from its seed, in
// the order the scenario asks for them. A Schedule is safe for concurrent use, but a scenario that asks for choices
// from several goroutines gets them in whatever order those run: ask from the test goroutine.
type Schedule struct {
	seed int64

	mu    sync.Mutex
	rng   *rand.Rand
	steps []string
}

// NewSchedule returns the schedule for seed.
func NewSchedule(seed int64) *Schedule {
	return &Schedule{seed: seed, rng: rand.New(rand.NewPCG(uint64(seed), uint64(seed)^0x6d73676c616273))}
}

// Seed is the schedule's seed.
func (s *Schedule) Seed() int64 { return s.seed }

// Steps is the schedule so far, in words, in the order it was made.
func (s *Schedule) Steps() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.steps...)
}

// Note adds a step in words, for a choice the scenario made with Intn, or something it did that a reader of a
// failure needs to know.
func (s *Schedule) Note(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.steps = append(s.steps, fmt.Sprintf(format, args...))
}

// Intn returns a number in [0, n) and notes nothing.
func (s *Schedule) Intn(n int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rng.IntN(n)
}

// Between returns a number in [lo, hi]. With what set, it is noted as "3 orders" (what is the plural noun).
func (s *Schedule) Between(lo, hi int, what string) int {
	n := lo + s.Intn(hi-lo+1)
	if what != "" {
		s.Note("%d %s", n, what)
	}
	return n
}

// Chance returns true percent times in a hundred, and then notes the words given ("m-3 is published twice").
func (s *Schedule) Chance(percent int, format string, args ...any) bool {
	if s.Intn(100) >= percent {
		return false
	}
	s.Note(format, args...)
	return true
}

// Order returns a shuffled order of len(labels) items, as indexes into labels, and notes it ("events: b, a, c").
func (s *Schedule) Order(what string, labels []string) []int {
	s.mu.Lock()
	order := s.rng.Perm(len(labels))
	s.mu.Unlock()
	names := make([]string, len(order))
	for i, j := range order {
		names[i] = labels[j]
	}
	s.Note("%s in this order: %s", what, strings.Join(names, ", "))
	return order
}

// CrashOn picks one of the triggers and arms it on p (fault.AfterCommitTo("charges", 2), fault.BeforeAckOf("m-3")…):
// the process dies when its own traffic matches it. It returns the trigger it picked.
func (s *Schedule) CrashOn(p *harness.Process, triggers ...fault.Trigger) fault.Trigger {
	t := triggers[s.Intn(len(triggers))]
	p.CrashOn(t)
	s.Note("%s crashes %s", p.Name, t)
	return t
}

// CrashAt picks one of the crash points and a visit from 1 to maxNth, and arms it on p.
func (s *Schedule) CrashAt(p *harness.Process, points []string, maxNth int) {
	point := points[s.Intn(len(points))]
	nth := s.Between(1, maxNth, "")
	p.Points.ArmNth(point, nth)
	s.Note("%s crashes at %q on visit %d", p.Name, point, nth)
}

// Slow picks a direction and a delay up to max (in steps of max/4) for p's broker link, and applies it.
func (s *Schedule) Slow(p *harness.Process, max time.Duration) {
	dir := []fault.Direction{fault.Up, fault.Down}[s.Intn(2)]
	d := max * time.Duration(s.Between(1, 4, "")) / 4
	p.Slow(dir, d)
	what := map[fault.Direction]string{fault.Up: "what it sends to", fault.Down: "what it receives from"}[dir]
	s.Note("%s: %s the broker is delayed by %v", p.Name, what, d)
}

// FailWrites makes the next 1 to max writes to table fail (a database trigger: no code path dodges it).
func (s *Schedule) FailWrites(env *harness.Env, table string, max int) *harness.WriteFault {
	n := s.Between(1, max, "")
	s.Note("the next %d write(s) to %s fail", n, table)
	return env.FailWrites(table, n)
}

// Cut cuts p's broker connections now (the scenario calls it right after the event it follows) and notes it.
func (s *Schedule) Cut(p *harness.Process, after string) {
	s.Note("%s's broker connection is cut after %s", p.Name, after)
	p.CutBroker()
}

// Report is the failure's last words: the schedule in words and the line that replays this run.
func (s *Schedule) Report(run, runs int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "chaos run %d of %d failed (seed %d). What the schedule did:\n", run, runs, s.seed)
	steps := s.Steps()
	if len(steps) == 0 {
		b.WriteString("  (it chose nothing)\n")
	}
	for i, step := range steps {
		fmt.Fprintf(&b, "  %d. %s\n", i+1, step)
	}
	fmt.Fprintf(&b, "replay this schedule: bin/checker chaos %s --seed %d --runs 1", labNumber(), s.seed)
	return b.String()
}
