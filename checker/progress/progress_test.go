package progress

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)

func TestStatuses(t *testing.T) {
	slugs := []string{"01-a", "02-b", "03-c", "04-d", "05-e"}
	st := State{Labs: map[string]*LabProgress{
		"01-a": {Passed: true, LastRun: RunPass},
		"02-b": {LastRun: RunFail},
		"04-d": {Passed: true, LastRun: RunFail},                 // run while locked; passed once, failing now
		"05-e": {Passed: true, CaughtUp: true, LastRun: RunPass}, // caught up
	}}
	got := Statuses(slugs, st, false)
	want := []Access{
		{Slug: "01-a", Status: Passed, Unlocked: true, SolutionUnlocked: true},
		{Slug: "02-b", Status: Failing, Unlocked: true},
		{Slug: "03-c", Status: Locked},
		{Slug: "04-d", Status: Failing, Unlocked: true, SolutionUnlocked: true},
		{Slug: "05-e", Status: Passed, Unlocked: true, SolutionUnlocked: true, CaughtUp: true},
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("lab %s: got %+v, want %+v", slugs[i], got[i], want[i])
		}
	}
	if fresh := Statuses(slugs, State{}, false); fresh[0].Status != Todo || fresh[1].Status != Locked || fresh[0].SolutionUnlocked {
		t.Errorf("fresh kit: %+v", fresh)
	}
	for _, a := range Statuses(slugs, State{}, true) {
		if !a.Unlocked || !a.SolutionUnlocked || a.Status == Locked {
			t.Errorf("instructor: %+v", a)
		}
	}
}

func load(t *testing.T, path string) *Store {
	t.Helper()
	s, warn := Load(path)
	if warn != nil {
		t.Fatalf("load %s: unexpected warning: %v", path, warn)
	}
	return s
}

func update(t *testing.T, s *Store, change func(*State)) {
	t.Helper()
	if err := s.Update(change); err != nil {
		t.Fatalf("update %s: %v", s.Path(), err)
	}
}

func TestRecordSaveLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), ".msglabs", "progress.json")
	s := load(t, path)
	update(t, s, func(st *State) {
		st.Record("01-a", Run{At: t0, Steps: []bool{true, false}})
		st.Record("01-a", Run{At: t0.Add(time.Minute), Passed: true, Steps: []bool{true, true}, Chaos: RunPass})
		st.Record("01-a", Run{At: t0.Add(2 * time.Minute), Steps: []bool{true, false}})
	})
	var idx []int
	for range 3 {
		update(t, s, func(st *State) { idx = append(idx, st.ShowHint("01-a", 2, 2, t0.Add(3*time.Minute))) })
	}
	if fmt.Sprint(idx) != "[0 1 1]" {
		t.Fatalf("hint indexes of step 2 = %v, want [0 1 1] (the last one again once all were shown)", idx)
	}
	p := load(t, path).Lab("01-a")
	switch {
	case !p.Passed || !p.PassedAt.Equal(t0.Add(time.Minute)) || p.LastRun != RunFail || !p.LastRunAt.Equal(t0.Add(2*time.Minute)):
		t.Fatalf("reloaded lab: %+v; want passed at +1m (first pass), last run a fail at +2m", p)
	case !p.StartedAt.Equal(t0) || !p.ChaosPassed || p.CaughtUp:
		t.Fatalf("reloaded lab: %+v; want started at t0, chaos passed, not caught up", p)
	case p.Step(1).LastRun != RunPass || p.Step(2).LastRun != RunFail || p.Step(2).HintsShown != 2 || p.Step(1).HintsShown != 0:
		t.Fatalf("reloaded steps: 1 %+v, 2 %+v; want step 1 passing without hints, step 2 failing with 2 hints", p.Step(1), p.Step(2))
	case !p.Step(2).PassedAt.Equal(t0.Add(time.Minute)):
		t.Fatalf("step 2 passed at %v, want its first pass at +1m", p.Step(2).PassedAt)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	for _, e := range entries {
		if e.Name() != "progress.json" && e.Name() != "progress.json.lock" {
			t.Fatalf("%s was left next to progress.json", e.Name())
		}
	}
}

func TestCatchUpThenSolve(t *testing.T) {
	var st State
	st.CatchUp("01-a", 2, t0)
	p := st.Lab("01-a")
	if !p.Passed || !p.CaughtUp || p.Step(2).LastRun != RunPass || p.LastRun != RunPass {
		t.Fatalf("after catch-up: %+v, want passed, caught up, both steps passing", p)
	}
	st.Record("01-a", Run{At: t0.Add(time.Hour), Passed: true, Steps: []bool{true, true}})
	if p := st.Lab("01-a"); p.CaughtUp || !p.PassedAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("after a real pass: %+v, want solved (not caught up) at +1h", p)
	}
	st.CatchUp("01-a", 2, t0.Add(2*time.Hour))
	if p := st.Lab("01-a"); p.CaughtUp {
		t.Fatalf("a catch-up over a solved lab turned it into caught up: %+v", p)
	}
}

func TestCorruptFileIsMovedAsideAndReported(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "progress.json")
	corrupt := `{"version":2,"labs":{"01-a":{"passed":tru`
	if err := os.WriteFile(path, []byte(corrupt), 0o644); err != nil {
		t.Fatal(err)
	}
	s, warn := Load(path)
	aside := path + ".corrupt-" + time.Now().Format("20060102")
	if warn == nil || !strings.Contains(warn.Error(), "corrupt") || !strings.Contains(warn.Error(), aside) {
		t.Fatalf("warning = %v, want it to say the file was corrupt and moved to %s-…", warn, aside)
	}
	if len(s.State().Labs) != 0 {
		t.Fatalf("state after a corrupt file = %+v, want empty", s.State())
	}
	matches, _ := filepath.Glob(path + ".corrupt-*")
	if len(matches) != 1 {
		t.Fatalf("files moved aside: %v, want one", matches)
	}
	if data, _ := os.ReadFile(matches[0]); string(data) != corrupt {
		t.Fatalf("moved-aside file holds %q, want the corrupt bytes kept", data)
	}
	update(t, s, func(st *State) { st.Record("01-a", Run{At: t0, Passed: true}) })
	if !load(t, path).Lab("01-a").Passed {
		t.Fatal("the rebuilt file lost the pass")
	}

	// A second corrupt file in the same second gets a name of its own.
	os.WriteFile(path, []byte("null x"), 0o644)
	s.Now = func() time.Time { return t0 }
	os.WriteFile(path+".corrupt-"+t0.Format("20060102-150405"), nil, 0o644)
	if _, err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	if w := s.Warnings(); len(w) != 1 || !strings.Contains(w[0], ".corrupt-20260504-100000-2") {
		t.Fatalf("warnings = %q, want the file moved to a numbered name", w)
	}
}

func TestOutOfRangeValuesAreClampedOnLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "progress.json")
	doc := `{"version":2,"labs":{
	  "01-a":{"last_run":"maybe","steps":{"1":{"hints_shown":-5},"2":{"hints_shown":99999999},"0":{"hints_shown":1},"40":{}}},
	  "02-b":null}}`
	os.WriteFile(path, []byte(doc), 0o644)
	s, warn := Load(path)
	if warn == nil || !strings.Contains(warn.Error(), "hints shown -5 is out of range") {
		t.Fatalf("warning = %v, want the clamped values named", warn)
	}
	p := s.Lab("01-a")
	if p.Step(1).HintsShown != 0 || p.Step(2).HintsShown != maxHints || p.LastRun != "" || len(p.Steps) != 2 {
		t.Fatalf("lab after load: %+v (steps %+v), want hints clamped to [0,%d], steps 0 and 40 dropped, last run cleared",
			p, p.Steps, maxHints)
	}
	if _, ok := s.State().Labs["02-b"]; ok {
		t.Fatal("a null lab entry survived the load")
	}
	var st State
	if i := st.ShowHint("01-a", 1, 0, t0); i != 0 {
		t.Fatalf("ShowHint with no hints = %d, want 0 (never negative)", i)
	}
	// Step 2 was loaded at maxHints, far more than its 3 hints: the next hint is the last one, not hint 100.
	loaded := s.State()
	if i := loaded.ShowHint("01-a", 2, 3, t0); i != 2 {
		t.Fatalf("ShowHint after a count of %d for 3 hints = %d, want 2 (the last hint)", maxHints, i)
	}
}

func TestVersion1HintsMoveToStepOne(t *testing.T) {
	path := filepath.Join(t.TempDir(), "progress.json")
	os.WriteFile(path, []byte(`{"version":1,"labs":{"01-a":{"passed":true,"last_run":"pass","hints_shown":2}}}`), 0o644)
	p := load(t, path).Lab("01-a")
	if !p.Passed || p.Step(1).HintsShown != 2 {
		t.Fatalf("migrated lab: %+v, want passed with 2 hints shown in step 1", p)
	}
	os.WriteFile(path, []byte(`{"version":9,"labs":{}}`), 0o644)
	if _, warn := Load(path); warn == nil || !strings.Contains(warn.Error(), "corrupt") {
		t.Fatalf("a file from a newer kit: warning %v, want it treated as not a progress file", warn)
	}
}

func TestUpdateKeepsWhatAnotherStoreSaved(t *testing.T) {
	path := filepath.Join(t.TempDir(), "progress.json")
	tui, cli := load(t, path), load(t, path) // both opened before either saved
	update(t, cli, func(st *State) { st.Record("01-a", Run{At: t0, Passed: true}) })
	update(t, tui, func(st *State) { st.ShowHint("02-b", 1, 3, t0) })
	got := load(t, path)
	if !got.Lab("01-a").Passed || got.Lab("02-b").Step(1).HintsShown != 1 {
		t.Fatalf("file holds %+v, want both the pass and the hint", got.State().Labs)
	}
	if !tui.Lab("01-a").Passed {
		t.Fatal("the updating store's own state lacks what the other store saved")
	}
}

func TestReloadPicksUpAnotherCheckersPass(t *testing.T) {
	path := filepath.Join(t.TempDir(), "progress.json")
	tui, cli := load(t, path), load(t, path)
	if changed, err := tui.Reload(); changed || err != nil {
		t.Fatalf("reload of an unchanged missing file: %v, %v", changed, err)
	}
	update(t, cli, func(st *State) { st.Record("01-a", Run{At: t0, Steps: []bool{false}}) })
	if changed, err := tui.Reload(); !changed || err != nil || tui.Lab("01-a").LastRun != RunFail {
		t.Fatalf("reload after the other checker's fail: changed %v, err %v, lab %+v", changed, err, tui.Lab("01-a"))
	}
	// Same size, same second: the file is still a new one.
	update(t, cli, func(st *State) { st.Labs["01-a"].LastRun = RunPass })
	if changed, _ := tui.Reload(); !changed || tui.Lab("01-a").LastRun != RunPass {
		t.Fatalf("reload after a same-size change: changed %v, lab %+v", changed, tui.Lab("01-a"))
	}
	if changed, _ := tui.Reload(); changed {
		t.Fatal("a second reload without a change reported one")
	}
}

func TestMerge(t *testing.T) {
	mine := State{Labs: map[string]*LabProgress{
		"01-a": {Passed: true, CaughtUp: true, PassedAt: t0, LastRun: RunPass, LastRunAt: t0},
		"02-b": {StartedAt: t0.Add(time.Hour), LastRun: RunFail, LastRunAt: t0.Add(2 * time.Hour),
			Steps: map[int]*StepProgress{1: {HintsShown: 1, LastRun: RunFail}}},
	}}
	theirs := State{Labs: map[string]*LabProgress{
		"01-a": {Passed: true, PassedAt: t0.Add(time.Minute), LastRun: RunPass, LastRunAt: t0.Add(time.Minute)},
		"02-b": {StartedAt: t0, LastRun: RunPass, LastRunAt: t0.Add(time.Hour), Passed: true, PassedAt: t0.Add(time.Hour),
			Steps: map[int]*StepProgress{1: {HintsShown: 3, LastRun: RunPass}, 2: {HintsShown: 1}}},
		"03-c": {StartedAt: t0},
	}}
	m := Merge(mine, theirs)
	a, b := m.Lab("01-a"), m.Lab("02-b")
	switch {
	case !a.Passed || a.CaughtUp || !a.PassedAt.Equal(t0):
		t.Fatalf("lab 1: %+v, want solved (their pass wins over my catch-up), passed at the earlier time", a)
	case !b.Passed || !b.StartedAt.Equal(t0) || b.LastRun != RunFail || !b.LastRunAt.Equal(t0.Add(2*time.Hour)):
		t.Fatalf("lab 2: %+v, want passed (theirs), started at the earlier time, last run mine (the later)", b)
	case b.Step(1).HintsShown != 3 || b.Step(1).LastRun != RunFail || b.Step(2).HintsShown != 1:
		t.Fatalf("lab 2 steps: %+v %+v, want the larger hint counts and my (later) step status", b.Step(1), b.Step(2))
	case m.Lab("03-c").StartedAt != t0:
		t.Fatal("a lab only they had was lost")
	}
	if mine.Labs["01-a"].CaughtUp != true || len(mine.Labs) != 2 {
		t.Fatal("Merge changed its argument")
	}
}

func TestLockTimesOutWhileHeld(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.lock")
	unlock, err := lockFile(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := lockFile(path, 50*time.Millisecond); err == nil || !strings.Contains(err.Error(), "another checker") {
		t.Fatalf("second lock while held: %v, want a time-out naming another checker", err)
	}
	if waited := time.Since(start); waited > 5*time.Second {
		t.Fatalf("the 50ms lock wait took %s", waited)
	}
	unlock()
	unlock2, err := lockFile(path, time.Second)
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	unlock2()
}

// Two processes record at once: the helper below is the test binary re-executed with envHelper set.
const (
	envHelper      = "MSGLABS_PROGRESS_HELPER"
	helperSlug     = "MSGLABS_PROGRESS_SLUG"
	helperUpdates  = 40
	helperDeadline = 60 * time.Second
)

func TestMain(m *testing.M) {
	if path := os.Getenv(envHelper); path != "" {
		os.Exit(helper(path, os.Getenv(helperSlug)))
	}
	os.Exit(m.Run())
}

// helper records a pass for slug, then shows helperUpdates hints of its step 1, each in its own Update from a
// store opened once (so without the re-read, it would write back what it loaded and lose the other's work).
func helper(path, slug string) int {
	s, _ := Load(path)
	for i := range helperUpdates {
		err := s.Update(func(st *State) {
			if i == 0 {
				st.Record(slug, Run{At: t0, Passed: true})
			}
			st.ShowHint(slug, 1, helperUpdates, t0)
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	return 0
}

func TestTwoProcessesRecordingAtOnceLoseNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), ".msglabs", "progress.json")
	slugs := []string{"01-a", "02-b"}
	var cmds []*exec.Cmd
	for _, slug := range slugs {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), envHelper+"="+path, helperSlug+"="+slug)
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	for i, cmd := range cmds {
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("process recording %s: %v", slugs[i], err)
			}
		case <-time.After(helperDeadline):
			cmd.Process.Kill()
			t.Fatalf("process recording %s did not finish in %s", slugs[i], helperDeadline)
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var st State
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatalf("the file both wrote is not JSON: %v\n%s", err, data)
	}
	for _, slug := range slugs {
		p := st.Lab(slug)
		if !p.Passed || p.Step(1).HintsShown != helperUpdates {
			t.Errorf("%s: passed %v, hints %d; want passed with %d hints (every update of both processes kept)",
				slug, p.Passed, p.Step(1).HintsShown, helperUpdates)
		}
	}
}
