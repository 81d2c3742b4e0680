package kit

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
	sealKit(t, root)
	return root
}

func stepped(t *testing.T) string {
	t.Helper()
	root := kittest.NewStepped(t)
	sealKit(t, root)
	return root
}

func written(t *testing.T) string {
	t.Helper()
	root := kittest.NewWritten(t)
	sealKit(t, root)
	return root
}

func record(t *testing.T, k *Kit, slug string, run progress.Run) {
	t.Helper()
	if err := k.Update(func(st *progress.State) { st.Record(slug, run) }); err != nil {
		t.Fatal(err)
	}
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
	record(t, k, "01-first", progress.Run{At: k.Now(), Passed: true})
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

// sealKit writes labs/labs.sum for the kit at root as its files are now, as `checker seal` does.
func sealKit(t testing.TB, root string) {
	t.Helper()
	c, err := lab.Load(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Problems()) > 0 {
		t.Fatalf("sample kit has problems: %v", c.Problems())
	}
	if _, err := seal.Write(c); err != nil {
		t.Fatal(err)
	}
}
