package verify

import (
	"context"
	"os/exec"
	"strings"
	"testing"

	"msglabs/checker/kittest"
	"msglabs/checker/lab"
	"msglabs/checker/seal"
)

// sealedKit is the sample kit, sealed and committed, as shipped.
func sealedKit(t *testing.T) *lab.Catalog {
	t.Helper()
	if testing.Short() {
		t.Skip("runs go test")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go is not on PATH")
	}
	root := kittest.New(t)
	c, err := lab.Load(root)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := seal.Write(c); err != nil {
		t.Fatal(err)
	}
	kittest.Commit(t, root)
	if c, err = lab.Load(root); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestLabVerifiesWithoutTouchingTheAttendeesFiles(t *testing.T) {
	c := sealedKit(t)
	// The attendee solved lab 1 and "improved" its test; verify judges the shipped kit anyway.
	mine := map[string]string{
		"labs/01-first/work.go":       kittest.Solved("first") + "// mine\n",
		"labs/01-first/first_test.go": "package first\n\nimport \"testing\"\n\nfunc TestLost(t *testing.T) {}\n",
		"labs/01-first/extra_test.go": "package first\n\nimport \"testing\"\n\nfunc TestExtra(t *testing.T) { t.Fatal(\"LOST: extra\") }\n",
	}
	kittest.Write(t, c.Root, mine)
	l, _ := c.Lab(1)
	r := Lab(context.Background(), c, l, Options{Count: 2})
	if !r.Verified || r.Error != "" || r.Reason != "" {
		t.Fatalf("result = %+v", r)
	}
	if strings.Join(r.Starter.FailedTests, ",") != "TestLost" || r.Starter.Markers["TestLost"] != "LOST" || !r.Solution.Passed {
		t.Fatalf("result = %+v", r)
	}
	for rel, content := range mine {
		if kittest.Read(t, c.Root, rel) != content {
			t.Fatalf("verify changed %s", rel)
		}
	}
}

func TestLabWithBrokenSolution(t *testing.T) {
	c := sealedKit(t)
	kittest.Write(t, c.Root, map[string]string{"solutions/02-second/work.go": "//go:build solution\n\n" + kittest.Starter("second")})
	l, _ := c.Lab(2)
	r := Lab(context.Background(), c, l, Options{})
	if r.Verified || r.Solution.Passed || !strings.Contains(r.Reason, "solution fails TestTwice (DUPLICATE:") {
		t.Fatalf("result = %+v", r)
	}
}

func TestLabWhoseShippedStarterIsNotInGit(t *testing.T) {
	c := sealedKit(t)
	l, _ := c.Lab(1)
	l.Sealed.Starter = map[string]string{"work.go": seal.BlobID([]byte("never committed"))}
	r := Lab(context.Background(), c, l, Options{})
	if r.Verified || !strings.Contains(r.Error, "is not in git") {
		t.Fatalf("result = %+v", r)
	}
}

func TestStrictRejectsStaleSeal(t *testing.T) {
	c := sealedKit(t)
	kittest.Write(t, c.Root, map[string]string{"labs/01-first/work.go": kittest.Solved("first")})
	l, _ := c.Lab(1)
	r := Lab(context.Background(), c, l, Options{Strict: true})
	if r.Verified || !strings.Contains(r.Error, "seal is stale") {
		t.Fatalf("result = %+v", r)
	}
}
