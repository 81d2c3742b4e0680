package kit

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"msglabs/checker/gotest"
	"msglabs/checker/kittest"
	"msglabs/checker/lab"
	"msglabs/checker/progress"
	"msglabs/checker/seal"
)

func open(t *testing.T, root string, instructor bool) *Kit {
	t.Helper()
	k, err := Open(filepath.Join(root, "labs"), instructor)
	if err != nil {
		t.Fatal(err)
	}
	k.Now = func() time.Time { return time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC) }
	return k
}

func sealed(t *testing.T) string {
	t.Helper()
	root := kittest.New(t)
	c, err := lab.Load(root)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := seal.Write(c); err != nil {
		t.Fatal(err)
	}
	return root
}

func TestStripBuildLine(t *testing.T) {
	cases := map[string]string{
		"//go:build solution\n\npackage acks\n":     "package acks\n",
		"//go:build solution\r\n\r\npackage acks\n": "package acks\n",
		"//go:build solution\n// Why.\npackage a\n": "// Why.\npackage a\n",
		"package acks\n": "package acks\n",
	}
	for in, want := range cases {
		if got := string(StripBuildLine([]byte(in))); got != want {
			t.Errorf("StripBuildLine(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSolutionLockedUntilPassed(t *testing.T) {
	root := sealed(t)
	k := open(t, root, false)
	var locked *LockedError
	if _, err := k.Solution(1); !errors.As(err, &locked) || !strings.Contains(err.Error(), "pass lab 1 first") {
		t.Fatalf("err = %v", err)
	}
	if err := k.Progress.Update(func(st *progress.State) { st.Record("01-first", progress.Run{At: k.Now(), Passed: true}) }); err != nil {
		t.Fatal(err)
	}
	files, err := k.Solution(1)
	if err != nil || len(files) != 1 || string(files[0].Content) != kittest.Solved("first") {
		t.Fatalf("files = %+v, err = %v", files, err)
	}
	d, err := k.SolutionDiff(1)
	if err != nil || !strings.Contains(d, "--- a/labs/01-first/work.go") || !strings.Contains(d, "-\treturn false\n+\treturn true\n") {
		t.Fatalf("diff = %q, err = %v", d, err)
	}
	if _, err := open(t, root, true).Solution(2); err != nil {
		t.Fatalf("instructor: %v", err)
	}
}

func TestApplyThenReset(t *testing.T) {
	root := sealed(t)
	kittest.Commit(t, root)
	k := open(t, root, true)
	kittest.Write(t, root, map[string]string{"labs/01-first/work.go": "package first\n// my attempt\n"})
	backup, err := k.ApplySolution(1)
	if err != nil {
		t.Fatal(err)
	}
	if want := ".msglabs/backup/20260504-100000.000/01-first"; backup != want {
		t.Fatalf("backup = %q, want %q", backup, want)
	}
	if got := kittest.Read(t, root, backup+"/work.go"); got != "package first\n// my attempt\n" {
		t.Fatalf("backup holds %q", got)
	}
	if got := kittest.Read(t, root, "labs/01-first/work.go"); got != kittest.Solved("first") {
		t.Fatalf("applied %q", got)
	}
	k.Now = func() time.Time { return time.Date(2026, 5, 4, 10, 0, 1, 0, time.UTC) }
	backup, err = k.Reset(context.Background(), 1)
	if err != nil || backup == "" {
		t.Fatalf("reset: %q, %v", backup, err)
	}
	if got := kittest.Read(t, root, "labs/01-first/work.go"); got != kittest.Starter("first") {
		t.Fatalf("reset left %q", got)
	}
	if backup, err := k.Reset(context.Background(), 1); err != nil || backup != "" {
		t.Fatalf("second reset: %q, %v; want nothing to do", backup, err)
	}
}

func TestResetWithoutGitNeedsTheStarterBlob(t *testing.T) {
	root := sealed(t) // not committed: git cannot give the starter back
	k := open(t, root, false)
	kittest.Write(t, root, map[string]string{"labs/01-first/work.go": "package first\n"})
	if _, err := k.Reset(context.Background(), 1); err == nil || !strings.Contains(err.Error(), "not available from git") {
		t.Fatalf("err = %v", err)
	}
	if got := kittest.Read(t, root, "labs/01-first/work.go"); got != "package first\n" {
		t.Fatalf("a failed reset changed the file to %q", got)
	}
}

func TestHints(t *testing.T) {
	root := kittest.New(t)
	k := open(t, root, false)
	for i, want := range []string{"Look at Fixed.", "Return true.", "Return true."} {
		h, err := k.NextHint(1)
		if err != nil || h.Text != want || h.Total != 2 {
			t.Fatalf("hint %d = %+v, %v", i, h, err)
		}
	}
	if got := open(t, root, false).List()[0].HintsShown; got != 2 {
		t.Fatalf("hints shown after reopening = %d", got)
	}
}

func TestRunRecordsAndUnlocks(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go test")
	}
	root := sealed(t)
	k := open(t, root, false)
	var finished []string
	res, err := k.Run(context.Background(), 1, RunOptions{}, func(ev gotest.Event) {
		if ev.Kind == gotest.TestFinished {
			finished = append(finished, ev.Test)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Kind != gotest.Failed || !res.Recorded || len(finished) != 2 || len(res.Unlocked) != 0 {
		t.Fatalf("starter run: %+v, finished %v", res, finished)
	}
	if l := k.List(); l[0].Status != progress.Failing || l[1].Status != progress.Locked {
		t.Fatalf("list = %+v", l)
	}
	kittest.Write(t, root, map[string]string{"labs/01-first/work.go": kittest.Solved("first")})
	res, err = k.Run(context.Background(), 1, RunOptions{}, nil)
	if err != nil || !res.Passed() || strings.Join(res.Unlocked, ",") != "lab 2,solution 1" {
		t.Fatalf("solved run: %+v, %v", res, err)
	}
	// An edited test unlocks nothing.
	kittest.Write(t, root, map[string]string{
		"labs/02-second/work.go":        kittest.Solved("second"),
		"labs/02-second/second_test.go": "package second\n\nimport \"testing\"\n\nfunc TestTwice(t *testing.T) {}\n",
	})
	res, err = k.Run(context.Background(), 2, RunOptions{}, nil)
	if err != nil || !res.Passed() || res.Recorded || len(res.TestsEdited) != 1 {
		t.Fatalf("edited test run: %+v, %v", res, err)
	}
	if _, err := os.Stat(filepath.Join(root, ".msglabs", "progress.json")); err != nil {
		t.Fatal(err)
	}
	if l := open(t, root, false).List(); l[0].Status != progress.Passed || l[1].Status != progress.Todo {
		t.Fatalf("list after reopening = %+v", l)
	}
}
