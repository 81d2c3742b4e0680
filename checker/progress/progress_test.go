package progress

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestStatuses(t *testing.T) {
	slugs := []string{"01-a", "02-b", "03-c", "04-d"}
	st := State{Labs: map[string]*LabProgress{
		"01-a": {Passed: true, LastRun: "pass"},
		"02-b": {LastRun: "fail"},
		"04-d": {Passed: true, LastRun: "fail"}, // run while locked; passed once, failing now
	}}
	got := Statuses(slugs, st, false)
	want := []Access{
		{Slug: "01-a", Status: Passed, Unlocked: true, SolutionUnlocked: true},
		{Slug: "02-b", Status: Failing, Unlocked: true},
		{Slug: "03-c", Status: Locked},
		{Slug: "04-d", Status: Failing, Unlocked: true, SolutionUnlocked: true},
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

func TestRecordSaveLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), ".msglabs", "progress.json")
	s, warn := Load(path)
	if warn != nil {
		t.Fatalf("missing file warns: %v", warn)
	}
	t0 := time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)
	s.Record("01-a", false, t0)
	s.Record("01-a", true, t0.Add(time.Minute))
	s.Record("01-a", false, t0.Add(2*time.Minute))
	if i := s.ShowHint("01-a", 2); i != 0 {
		t.Fatalf("first hint index %d", i)
	}
	s.ShowHint("01-a", 2)
	if i := s.ShowHint("01-a", 2); i != 1 {
		t.Fatalf("after all hints: index %d, want the last (1)", i)
	}
	if err := s.Save(); err != nil {
		t.Fatal(err)
	}
	s2, warn := Load(path)
	if warn != nil {
		t.Fatal(warn)
	}
	p := s2.Lab("01-a")
	if !p.Passed || !p.PassedAt.Equal(t0.Add(time.Minute)) || p.LastRun != "fail" || p.HintsShown != 2 {
		t.Fatalf("reloaded %+v", p)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("%d files next to progress.json; the temporary file was left behind", len(entries))
	}
}

func TestCorruptFileIsRebuilt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "progress.json")
	if err := os.WriteFile(path, []byte(`{"version":1,"labs":{"01-a":{"passed":tru`), 0o644); err != nil {
		t.Fatal(err)
	}
	s, warn := Load(path)
	if warn == nil || !strings.Contains(warn.Error(), "corrupt") {
		t.Fatalf("warning = %v", warn)
	}
	if len(s.State.Labs) != 0 {
		t.Fatalf("state = %+v, want empty", s.State)
	}
	s.Record("01-a", true, time.Now())
	if err := s.Save(); err != nil {
		t.Fatal(err)
	}
	if s2, warn := Load(path); warn != nil || !s2.Lab("01-a").Passed {
		t.Fatalf("rebuilt file: %v, %+v", warn, s2.State)
	}
}
