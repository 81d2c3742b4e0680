package mob

import (
	"path/filepath"
	"testing"
	"time"
)

func TestRotation(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 9, 0, 0, 0, time.UTC)
	s, err := New([]string{"ann", "bob,cem"}, 7, t0)
	if err != nil {
		t.Fatal(err)
	}
	at := s.At(t0.Add(time.Minute))
	if at.Driver != "ann" || at.Navigator != "bob" || at.Left != 6*time.Minute || at.Rotations != 0 {
		t.Fatalf("at 1m: %+v", at)
	}
	at = s.At(t0.Add(15 * time.Minute))
	if at.Driver != "cem" || at.Navigator != "ann" || at.Rotations != 2 || at.Left != 6*time.Minute {
		t.Fatalf("at 15m: %+v", at)
	}
	if !s.Advance(t0.Add(15*time.Minute)) || s.Index != 2 || !s.Start.Equal(t0.Add(14*time.Minute)) {
		t.Fatalf("advance: %+v", s)
	}
	if s.Advance(t0.Add(15 * time.Minute)) {
		t.Fatal("advanced twice")
	}
	s.Skip(t0.Add(16 * time.Minute))
	if at := s.At(t0.Add(16 * time.Minute)); at.Driver != "ann" || at.Left != 7*time.Minute {
		t.Fatalf("skip: %+v", at)
	}
	if _, err := New([]string{"solo"}, 7, t0); err == nil {
		t.Fatal("one member accepted")
	}
	if _, err := New([]string{"a", "b"}, 0, t0); err == nil {
		t.Fatal("zero minutes accepted")
	}
	if got := Clock(61*time.Second + time.Millisecond); got != "1:02" {
		t.Fatalf("clock = %s", got)
	}
}

func TestSaveLoadSurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), ".msglabs", "mob.json")
	if _, ok := Load(path); ok {
		t.Fatal("loaded a missing file")
	}
	t0 := time.Date(2025, 1, 1, 9, 0, 0, 0, time.UTC)
	s, _ := New([]string{"ann", "bob", "cem"}, 5, t0)
	if err := Save(path, s); err != nil {
		t.Fatal(err)
	}
	got, ok := Load(path)
	if !ok || got.At(t0.Add(6*time.Minute)).Driver != "bob" {
		t.Fatalf("loaded %+v %v", got, ok)
	}
	if err := Remove(path); err != nil {
		t.Fatal(err)
	}
	if _, ok := Load(path); ok {
		t.Fatal("still there after Remove")
	}
}
