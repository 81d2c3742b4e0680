package tui

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func waitFired(t *testing.T, w *watcher, want bool, within time.Duration) {
	t.Helper()
	select {
	case <-w.C:
		if !want {
			t.Fatal("the watcher fired for nothing")
		}
	case <-time.After(within):
		if want {
			t.Fatalf("the %s watcher did not fire within %s", w.Mode(), within)
		}
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestWatcherSeesSavesIncludingRenameOnSave(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "work.go"), "package x\n")
	w := startWatcher(dir, false, 50*time.Millisecond, 20*time.Millisecond)
	defer w.Close()
	if w.Mode() != "fsnotify" {
		t.Skipf("fsnotify unavailable here (%s)", w.Mode())
	}
	// A plain write.
	write(t, filepath.Join(dir, "work.go"), "package x // 1\n")
	waitFired(t, w, true, 2*time.Second)
	// An editor that writes a temporary file and renames it over the original (the burst is one change).
	tmp := filepath.Join(dir, ".work.go.swp")
	write(t, tmp, "package x // 2\n")
	if err := os.Rename(tmp, filepath.Join(dir, "work.go")); err != nil {
		t.Fatal(err)
	}
	waitFired(t, w, true, 2*time.Second)
	waitFired(t, w, false, 200*time.Millisecond)
	// Files that are not Go are not a reason to run.
	write(t, filepath.Join(dir, "notes.txt"), "x")
	waitFired(t, w, false, 200*time.Millisecond)
}

func TestWatcherReaddsAFolderThatCameBack(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "lab")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	w := startWatcher(dir, false, 50*time.Millisecond, 20*time.Millisecond)
	defer w.Close()
	if w.Mode() != "fsnotify" {
		t.Skip("fsnotify unavailable here")
	}
	if err := os.Rename(dir, dir+".old"); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "work.go"), "package x\n")
	waitFired(t, w, true, 3*time.Second)
	for len(w.C) > 0 {
		<-w.C
	}
	time.Sleep(100 * time.Millisecond) // let the re-added watch settle before the next save
	for len(w.C) > 0 {
		<-w.C
	}
	write(t, filepath.Join(dir, "work.go"), "package x // again\n")
	waitFired(t, w, true, 3*time.Second)
}

func TestPollingWatcher(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "work.go")
	write(t, path, "package x\n")
	w := startWatcher(dir, true, 50*time.Millisecond, 20*time.Millisecond)
	defer w.Close()
	if w.Mode() != "polling" {
		t.Fatalf("mode = %s", w.Mode())
	}
	waitFired(t, w, false, 100*time.Millisecond)
	later := time.Now().Add(2 * time.Second)
	write(t, path, "package x // changed\n")
	if err := os.Chtimes(path, later, later); err != nil {
		t.Fatal(err)
	}
	waitFired(t, w, true, 2*time.Second)
}

func TestWatcherFallsBackToPollingWhenTheFolderIsMissing(t *testing.T) {
	w := startWatcher(filepath.Join(t.TempDir(), "missing"), false, 50*time.Millisecond, 20*time.Millisecond)
	defer w.Close()
	if w.Mode() != "polling" {
		t.Fatalf("mode = %s", w.Mode())
	}
}
