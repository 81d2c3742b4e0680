package explore

import (
	"errors"
	"fmt"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"msglabs/shared/story"
)

// stepper returns a process that takes the given steps, appending "name:label" to log as it takes each one.
func stepper(name string, log *[]string, labels ...string) Process {
	return Process{Name: name, Run: func(p *Proc) {
		for _, l := range labels {
			p.Step(l)
			*log = append(*log, p.Name()+":"+l)
		}
	}}
}

// collect explores a model of the given processes (built fresh each time) and returns every complete schedule's log.
func collect(t *testing.T, opts Options, procs func(log *[]string) []Process) (Result, []string) {
	t.Helper()
	var all []string
	res, err := Explore(opts, func() Model {
		var log []string
		return Model{
			Processes: procs(&log),
			Invariants: []Invariant{{Name: "record", AtEnd: true, Check: func() error {
				all = append(all, strings.Join(log, " "))
				return nil
			}}},
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return res, all
}

// Two processes of two steps each interleave in C(4,2) = 6 ways; each is explored exactly once.
func TestEveryInterleavingExactlyOnce(t *testing.T) {
	res, all := collect(t, Options{}, func(log *[]string) []Process {
		return []Process{stepper("a", log, "1", "2"), stepper("b", log, "1", "2")}
	})
	want := []string{
		"a:1 a:2 b:1 b:2",
		"a:1 b:1 a:2 b:2",
		"a:1 b:1 b:2 a:2",
		"b:1 a:1 a:2 b:2",
		"b:1 a:1 b:2 a:2",
		"b:1 b:2 a:1 a:2",
	}
	if res.Schedules != len(want) || res.Failure != nil {
		t.Fatalf("explored %d schedules (failure %v), want %d and none", res.Schedules, res.Failure, len(want))
	}
	if strings.Join(all, "\n") != strings.Join(want, "\n") {
		t.Fatalf("schedules, in order:\n%s\nwant:\n%s", strings.Join(all, "\n"), strings.Join(want, "\n"))
	}
}

// Three processes of 2, 1 and 3 steps: 6!/(2!·1!·3!) = 60 distinct schedules.
func TestCountsMultinomial(t *testing.T) {
	res, all := collect(t, Options{}, func(log *[]string) []Process {
		return []Process{stepper("a", log, "1", "2"), stepper("b", log, "1"), stepper("c", log, "1", "2", "3")}
	})
	if res.Schedules != 60 {
		t.Fatalf("explored %d schedules, want 60", res.Schedules)
	}
	seen := map[string]bool{}
	for _, s := range all {
		if seen[s] {
			t.Fatalf("schedule explored twice: %s", s)
		}
		seen[s] = true
	}
}

// A crash ends the incarnation before the step; the process starts over, fresh, under a new name.
func TestCrashRestartsFromTheTop(t *testing.T) {
	res, all := collect(t, Options{MaxCrashes: 1}, func(log *[]string) []Process {
		return []Process{stepper("a", log, "1", "2", "3")}
	})
	want := []string{
		"a:1 a:2 a:3",
		"a:1 a:2 a#2:1 a#2:2 a#2:3", // crashed before 3
		"a:1 a#2:1 a#2:2 a#2:3",     // crashed before 2
		"a#2:1 a#2:2 a#2:3",         // crashed before 1
	}
	if res.Schedules != len(want) {
		t.Fatalf("explored %d schedules, want %d", res.Schedules, len(want))
	}
	if strings.Join(all, "\n") != strings.Join(want, "\n") {
		t.Fatalf("schedules, in order:\n%s\nwant:\n%s", strings.Join(all, "\n"), strings.Join(want, "\n"))
	}
}

// A crash loses local variables but not the shared state of the model.
func TestCrashLosesMemoryKeepsSharedState(t *testing.T) {
	var finals []string
	_, err := Explore(Options{MaxCrashes: 1}, func() Model {
		shared := 0
		var final string
		return Model{
			Processes: []Process{{Name: "p", Run: func(p *Proc) {
				local := 0
				p.Step("write")
				local++
				shared++
				p.Step("end")
				final = fmt.Sprintf("local=%d shared=%d", local, shared)
			}}},
			Invariants: []Invariant{{Name: "record", AtEnd: true, Check: func() error { finals = append(finals, final); return nil }}},
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	want := "local=1 shared=1|local=1 shared=2|local=1 shared=1"
	if got := strings.Join(finals, "|"); got != want {
		t.Fatalf("got %s, want %s (no crash | crash before end | crash before write)", got, want)
	}
}

// The crash budget counts across processes and bounds the schedules.
func TestCrashBudget(t *testing.T) {
	count := func(crashes int) int {
		res, _ := collect(t, Options{MaxCrashes: crashes}, func(log *[]string) []Process {
			return []Process{stepper("a", log, "1"), stepper("b", log, "1")}
		})
		return res.Schedules
	}
	// 0 crashes: ab, ba. 1 crash: those plus every schedule with one crash of a or b before its step.
	if n := count(0); n != 2 {
		t.Fatalf("0 crashes: %d schedules, want 2", n)
	}
	one, two := count(1), count(2)
	if one <= 2 || two <= one {
		t.Fatalf("schedules with 1 crash: %d, with 2: %d; want 2 < 1-crash < 2-crash", one, two)
	}
	if one != 8 {
		t.Fatalf("1 crash: %d schedules, want 8", one)
	}
}

// A lost update (read, read, write, write) breaks the invariant; the explorer stops there and shows the schedule.
func TestFindsLostUpdate(t *testing.T) {
	res, err := Explore(Options{}, counterModel(false))
	if err != nil {
		t.Fatal(err)
	}
	f := res.Failure
	if f == nil {
		t.Fatalf("no failure found in %d schedules", res.Schedules)
	}
	if res.Schedules != 2 || f.Schedule != 2 {
		t.Fatalf("failed at schedule %d after %d explored, want the 2nd", f.Schedule, res.Schedules)
	}
	var steps []string
	for _, e := range f.Trace {
		if e.Kind == Step {
			steps = append(steps, e.Proc+":"+e.Label)
		}
	}
	if got := strings.Join(steps, " "); got != "a:read b:read a:write b:write" {
		t.Fatalf("failing schedule %s, want a:read b:read a:write b:write", got)
	}
	v := f.First()
	if v.Marker != story.Lost || v.Invariant != "no lost updates" || !strings.Contains(v.Err.Error(), "counter is 1") {
		t.Fatalf("violation %+v", v)
	}
	text := f.String()
	for _, want := range []string{"LOST: counter is 1, want 2",
		`invariant "no lost updates" broken in schedule 2, once every process had finished`,
		"1. a  starts", "a  read: saw 0", "b  write: wrote 1", `broken once every process had finished: "no lost updates"`} {
		if !strings.Contains(text, want) {
			t.Errorf("failure text lacks %q:\n%s", want, text)
		}
	}
	if !strings.HasPrefix(res.Summary(), "explored 2 schedules in ") {
		t.Errorf("summary %q", res.Summary())
	}
}

// An atomic increment holds in every schedule, also with crashes, and everything is explored.
func TestAtomicIncrementHolds(t *testing.T) {
	res, err := Explore(Options{MaxCrashes: 2}, counterModel(true))
	if err != nil {
		t.Fatal(err)
	}
	if res.Failure != nil {
		t.Fatalf("unexpected failure:\n%s", res.Failure)
	}
	if res.Schedules < 10 {
		t.Fatalf("only %d schedules explored", res.Schedules)
	}
}

// counterModel: two processes each add 1 to a shared counter, atomically (one step) or as read-then-write.
func counterModel(atomic bool) func() Model {
	return func() Model {
		counter := 0
		inc := func(p *Proc) {
			if atomic {
				p.Step("increment")
				counter++
				return
			}
			p.Step("read")
			v := counter
			p.Note("saw %d", v)
			p.Step("write")
			counter = v + 1
			p.Note("wrote %d", v+1)
		}
		return Model{
			Processes: []Process{{Name: "a", Run: inc}, {Name: "b", Run: inc}},
			Invariants: []Invariant{{Name: "no lost updates", Marker: story.Lost, AtEnd: true, Check: func() error {
				if counter != 2 {
					return fmt.Errorf("counter is %d, want 2", counter)
				}
				return nil
			}}},
		}
	}
}

// Every broken invariant is reported, in the order given; the first leads.
func TestAllViolationsInOrder(t *testing.T) {
	res, err := Explore(Options{}, func() Model {
		return Model{
			Processes: []Process{{Name: "a", Run: func(p *Proc) { p.Step("x") }}},
			Invariants: []Invariant{
				{Name: "one", Marker: story.Duplicate, AtEnd: true, Check: func() error { return errors.New("first") }},
				{Name: "two", Marker: story.Lost, AtEnd: true, Check: func() error { return nil }},
				{Name: "three", Marker: story.Ghost, AtEnd: true, Check: func() error { return errors.New("third") }},
			},
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	f := res.Failure
	if f == nil || len(f.Violations) != 2 || f.First().Invariant != "one" || f.Violations[1].Invariant != "three" {
		t.Fatalf("failure %+v", f)
	}
}

// Notes made before the first step go to the start line; notes after a step go to that step's line.
func TestNotesAndCrashLines(t *testing.T) {
	res, err := Explore(Options{MaxCrashes: 1}, func() Model {
		runs := 0
		return Model{
			Processes: []Process{{Name: "w", Run: func(p *Proc) {
				runs++
				p.Note("got m-1")
				p.Step("save")
				p.Note("saved")
			}}},
			Invariants: []Invariant{{Name: "ran once", Marker: story.Duplicate, AtEnd: true, Check: func() error {
				if runs > 1 {
					return fmt.Errorf("ran %d times", runs)
				}
				return nil
			}}},
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Failure == nil {
		t.Fatal("the crash schedule should break the invariant")
	}
	got := strings.Join(res.Failure.Lines(), "\n")
	want := strings.Join([]string{
		"  1. w    starts: got m-1",
		`  2. w    CRASHED before "save": everything it held in memory is gone`,
		"  3. w#2  starts: got m-1",
		"  4. w#2  save: saved",
		`broken once every process had finished: "ran once" (DUPLICATE: ran 2 times)`,
	}, "\n")
	if got != want {
		t.Fatalf("lines:\n%s\nwant:\n%s", got, want)
	}
}

// A process that panics is a broken model: Explore says so, and leaves no goroutine waiting.
func TestPanicIsAnError(t *testing.T) {
	before := runtime.NumGoroutine()
	_, err := Explore(Options{}, func() Model {
		return Model{Processes: []Process{
			{Name: "ok", Run: func(p *Proc) { p.Step("1"); p.Step("2") }},
			{Name: "bad", Run: func(p *Proc) { panic("boom") }},
		}}
	})
	if err == nil || !strings.Contains(err.Error(), "bad panicked: boom") {
		t.Fatalf("err = %v", err)
	}
	// "ok" was waiting at its first step when "bad" panicked: it must have been ended, not left blocked.
	deadline := time.Now().Add(time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Fatalf("%d goroutines left behind", n-before)
	}
}

// A model that loops forever is stopped at MaxSteps.
func TestStepLimit(t *testing.T) {
	_, err := Explore(Options{MaxSteps: 50}, func() Model {
		return Model{Processes: []Process{{Name: "spin", Run: func(p *Proc) {
			for {
				p.Step("again")
			}
		}}}}
	})
	if err == nil || !strings.Contains(err.Error(), "no end after 50 steps") {
		t.Fatalf("err = %v", err)
	}
}

// A process blocked on something other than Step is reported after StepTimeout.
func TestBlockedProcess(t *testing.T) {
	never := make(chan struct{})
	defer close(never)
	_, err := Explore(Options{StepTimeout: 50 * time.Millisecond}, func() Model {
		return Model{Processes: []Process{{Name: "stuck", Run: func(p *Proc) { p.Step("wait"); <-never }}}}
	})
	if err == nil || !strings.Contains(err.Error(), "stuck did not reach its next step within 50ms") || !errors.Is(err, ErrBlocked) {
		t.Fatalf("err = %v, want one that wraps ErrBlocked", err)
	}
}

// A model whose steps depend on something outside it (here: a variable kept across schedules) is caught on replay.
func TestNondeterminismIsAnError(t *testing.T) {
	builds := 0
	_, err := Explore(Options{}, func() Model {
		builds++ // one more process each time: replaying the same decisions no longer meets the same options
		var procs []Process
		for i := 0; i <= builds; i++ {
			procs = append(procs, Process{Name: fmt.Sprint(i), Run: func(p *Proc) { p.Step("x") }})
		}
		return Model{Processes: procs}
	})
	if err == nil || !strings.Contains(err.Error(), "not deterministic") {
		t.Fatalf("err = %v", err)
	}
}

// A process that never steps (or a model with no processes) is one schedule.
func TestTrivialModels(t *testing.T) {
	for name, procs := range map[string][]Process{
		"none":     nil,
		"no steps": {{Name: "a", Run: func(*Proc) {}}},
	} {
		res, err := Explore(Options{MaxCrashes: 3}, func() Model { return Model{Processes: procs} })
		if err != nil || res.Schedules != 1 || res.Failure != nil {
			t.Errorf("%s: %d schedules, failure %v, err %v; want 1, none, nil", name, res.Schedules, res.Failure, err)
		}
	}
}

// next walks decisions depth first.
func TestNext(t *testing.T) {
	cases := []struct {
		choices, counts []int
		want            []int
		more            bool
	}{
		{[]int{0, 0, 0}, []int{2, 2, 1}, []int{0, 1}, true},
		{[]int{0, 1, 0}, []int{2, 2, 1}, []int{1}, true},
		{[]int{1, 1, 0}, []int{2, 2, 1}, nil, false},
		{nil, nil, nil, false},
	}
	for _, c := range cases {
		got, more := next(c.choices, c.counts)
		if more != c.more || fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("next(%v, %v) = %v, %v; want %v, %v", c.choices, c.counts, got, more, c.want, c.more)
		}
	}
}

// The same model explores the same schedules in the same order every time.
func TestDeterministicOrder(t *testing.T) {
	run := func() []string {
		_, all := collect(t, Options{MaxCrashes: 1}, func(log *[]string) []Process {
			// Logging each start too tells apart schedules that differ only in when a crash happened.
			starting := func(pr Process) Process {
				run := pr.Run
				pr.Run = func(p *Proc) { *log = append(*log, p.Name()+":start"); run(p) }
				return pr
			}
			return []Process{starting(stepper("a", log, "1", "2")), starting(stepper("b", log, "1"))}
		})
		return all
	}
	first, second := run(), run()
	if strings.Join(first, "|") != strings.Join(second, "|") {
		t.Fatal("two explorations of the same model differ")
	}
	sorted := append([]string(nil), first...)
	sort.Strings(sorted)
	for i := 1; i < len(sorted); i++ {
		if sorted[i] == sorted[i-1] {
			t.Fatalf("schedule explored twice: %s", sorted[i])
		}
	}
}

// A safety invariant is checked after every step: a moment in which it is false fails, even though the end repairs
// it. The trace stops right after the step that broke it.
func TestSafetyAfterEveryStep(t *testing.T) {
	res, err := Explore(Options{}, func() Model {
		announced, charged := false, false
		return Model{
			Processes: []Process{{Name: "billing", Run: func(p *Proc) {
				p.Step("publish")
				announced = true
				p.Step("charge")
				charged = true
			}}},
			Invariants: []Invariant{
				{Name: "no ghost messages", Marker: story.Ghost, Check: func() error {
					if announced && !charged {
						return errors.New("OrderBilled went out for a charge that is not there")
					}
					return nil
				}},
				{Name: "charged in the end", Marker: story.Lost, AtEnd: true, Check: func() error { return nil }},
			},
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	f := res.Failure
	if f == nil {
		t.Fatal("a ghost between two steps went unnoticed: safety is only checked at the end")
	}
	v := f.First()
	if v.Invariant != "no ghost messages" || v.AfterLine != 2 || len(f.Trace) != 2 {
		t.Fatalf("violation %+v after %d trace lines, want no ghost messages right after line 2 (the publish)", v, len(f.Trace))
	}
	if got := f.Lines()[len(f.Lines())-1]; !strings.HasPrefix(got, `broken right after line 2: "no ghost messages" (GHOST: `) {
		t.Fatalf("last line %q", got)
	}
}

// A safety invariant that holds throughout never fails, and AtEnd ones are not checked mid-way.
func TestAtEndIsOnlyCheckedAtTheEnd(t *testing.T) {
	res, err := Explore(Options{MaxCrashes: 1}, counterModel(false))
	if err != nil {
		t.Fatal(err)
	}
	if res.Failure == nil || res.Failure.First().AfterLine != 0 {
		t.Fatalf("failure %+v, want the lost update once every process had finished", res.Failure)
	}
}

// Sample draws the same schedules from the same seed, different ones from another, and finds what Explore finds.
func TestSampleIsDeterministicPerSeed(t *testing.T) {
	draw := func(seed uint64) []string {
		var all []string
		res, err := Sample(Options{MaxCrashes: 2, CrashPercent: 30}, 40, seed, func() Model {
			var log []string
			procs := []Process{stepper("a", &log, "1", "2", "3"), stepper("b", &log, "1", "2"), stepper("c", &log, "1")}
			return Model{Processes: procs, Invariants: []Invariant{{Name: "record", AtEnd: true, Check: func() error {
				all = append(all, strings.Join(log, " "))
				return nil
			}}}}
		})
		if err != nil || res.Schedules != 40 || !res.Sampled || res.Seed != seed {
			t.Fatalf("seed %d: %+v, %v", seed, res, err)
		}
		return all
	}
	first, again, other := draw(7), draw(7), draw(8)
	if strings.Join(first, "|") != strings.Join(again, "|") {
		t.Fatal("two samples with seed 7 drew different schedules")
	}
	if strings.Join(first, "|") == strings.Join(other, "|") {
		t.Fatal("seeds 7 and 8 drew the same 40 schedules")
	}
	crashed := 0
	for _, s := range first {
		if strings.Contains(s, "#2") {
			crashed++
		}
	}
	if crashed == 0 || crashed == len(first) {
		t.Fatalf("%d of %d sampled schedules had a crash, want some but not all", crashed, len(first))
	}
	res, err := Sample(Options{}, 50, 1, counterModel(false))
	if err != nil || res.Failure == nil {
		t.Fatalf("50 random schedules of the lost update found nothing (%v)", err)
	}
	if !strings.HasPrefix(res.Summary(), "sampled ") || !strings.Contains(res.Summary(), "(seed 1)") {
		t.Fatalf("summary %q", res.Summary())
	}
}
