package catalog

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"msglabs/checker/kittest"
)

func TestLoadSkipsLabsWithoutFolder(t *testing.T) {
	root := kittest.New(t)
	c, err := Load(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.All) != 3 || len(c.Labs) != 2 {
		t.Fatalf("got %d entries, %d labs; want 3 entries, 2 labs", len(c.All), len(c.Labs))
	}
	l, err := c.Lab(2)
	if err != nil || l.Title != "Second: the sequel" || l.Failing[0] != (Failing{"TestTwice", "DUPLICATE"}) {
		t.Fatalf("lab 2 = %+v, %v", l, err)
	}
	if _, err := c.Lab(3); err == nil || !strings.Contains(err.Error(), "not in this kit yet") {
		t.Fatalf("lab 3: err = %v, want 'not in this kit yet'", err)
	}
	if _, err := c.Lab(42); err == nil {
		t.Fatal("lab 42 exists?")
	}
}

func TestLoadReportsProblems(t *testing.T) {
	cases := []struct {
		name   string
		edit   func(yaml string) string
		want   string
		broken bool // a problem of one lab on disk, not of the file: the lab is left out
	}{
		{name: "unknown marker", edit: func(y string) string { return strings.Replace(y, "marker: LOST", "marker: GONE", 1) },
			want: `unknown marker "GONE"`},
		{name: "unknown failure", edit: func(y string) string { return strings.Replace(y, "failure: DUPLICATE", "failure: TWICE", 1) },
			want: `unknown failure "TWICE"`},
		{name: "duplicate number", edit: func(y string) string { return strings.Replace(y, "number: 2", "number: 1", 1) },
			want: "number 1 is used twice"},
		{name: "unknown field", edit: func(y string) string { return strings.Replace(y, "hints: [", "hint: [", 1) },
			want: "field hint not found"},
		{name: "edit file missing", edit: func(y string) string { return strings.Replace(y, "edit: [work.go]", "edit: [work.go, more.go]", 1) },
			want: "edit file labs/01-first/more.go is missing", broken: true},
		{name: "failing test not declared", edit: func(y string) string { return strings.Replace(y, "test: TestLost", "test: TestGone", 1) },
			want: "failing test TestGone is not declared", broken: true},
		{name: "no failing tests", edit: func(y string) string {
			return strings.Replace(y, "    failing:\n      - test: TestLost\n        marker: LOST\n", "", 1)
		}, want: `lab "01-first": failing lists no tests`, broken: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root := kittest.New(t)
			kittest.Write(t, root, map[string]string{"labs/labs.yaml": tc.edit(kittest.Catalog)})
			c, err := Load(root)
			if !tc.broken {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("err = %v, want it to mention %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(c.Labs) != 1 || c.Labs[0].Number != 2 || !strings.Contains(strings.Join(c.Problems(), "\n"), tc.want) {
				t.Fatalf("labs = %d, problems = %q; want lab 1 left out for %q", len(c.Labs), c.Problems(), tc.want)
			}
			if _, err := c.Lab(1); err == nil || !strings.Contains(err.Error(), "lab 1 is not usable") {
				t.Fatalf("Lab(1): %v", err)
			}
		})
	}
}

func TestFindRoot(t *testing.T) {
	root := kittest.New(t)
	got, err := FindRoot(filepath.Join(root, "labs", "01-first"))
	if err != nil || got != root {
		t.Fatalf("FindRoot = %q, %v; want %q", got, err, root)
	}
	other := t.TempDir()
	kittest.Write(t, other, map[string]string{"go.mod": "module example.com/other\n"})
	if _, err := FindRoot(other); err == nil {
		t.Fatal("FindRoot accepted a module that is not msglabs")
	}
}

func TestBlobID(t *testing.T) {
	// `printf 'hello\n' | git hash-object --stdin` and `git hash-object /dev/null`.
	if got := BlobID([]byte("hello\n")); got != "ce013625030ba8dba906f756967f9e9ca394464a" {
		t.Fatalf("BlobID(hello) = %s", got)
	}
	if got := BlobID(nil); got != "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391" {
		t.Fatalf("BlobID(empty) = %s", got)
	}
}

func TestSealRoundTripKeepsTheText(t *testing.T) {
	root := kittest.New(t)
	c, err := Load(root)
	if err != nil {
		t.Fatal(err)
	}
	changed, err := c.Seal()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(changed, ",") != "01-first,02-second" {
		t.Fatalf("changed = %v", changed)
	}
	after := kittest.Read(t, root, File)
	// Everything that was there is still there, in order, comments included; only sealed blocks were added.
	want := kittest.Catalog
	for _, l := range c.Labs {
		s, err := c.Compute(l)
		if err != nil {
			t.Fatal(err)
		}
		block := strings.Join(sealBlock("    ", s), "")
		if !strings.Contains(after, block) {
			t.Fatalf("sealed block of %s missing:\n%s", l.Slug, after)
		}
		after = strings.Replace(after, block, "", 1)
	}
	if after != want {
		t.Fatalf("text changed beyond the sealed blocks:\n%s", after)
	}
	c2, err := Load(root)
	if err != nil {
		t.Fatal(err)
	}
	l1, _ := c2.Lab(1)
	if l1.Sealed.Starter["work.go"] != BlobID([]byte(kittest.Starter("first"))) || len(l1.Sealed.Tests) != 1 {
		t.Fatalf("sealed = %+v", l1.Sealed)
	}
	// Sealing again changes nothing; changing a test replaces the block in place.
	first := kittest.Read(t, root, File)
	if changed, err := c2.Seal(); err != nil || len(changed) != 0 || kittest.Read(t, root, File) != first {
		t.Fatalf("second seal: changed=%v err=%v", changed, err)
	}
	kittest.Write(t, root, map[string]string{"labs/01-first/first_test.go": "package first\n\nfunc TestLost(t *testing.T) {}\n"})
	if changed, err := c2.Seal(); err != nil || strings.Join(changed, ",") != "01-first" {
		t.Fatalf("third seal: changed=%v err=%v", changed, err)
	}
	third := kittest.Read(t, root, File)
	if strings.Count(third, "sealed:") != 2 || !strings.Contains(third, "# The second lab.") || !strings.HasSuffix(third, "# trailing comment\n") {
		t.Fatalf("resealed catalog:\n%s", third)
	}
}

func TestCheckSeal(t *testing.T) {
	root := kittest.New(t)
	kittest.Commit(t, root)
	c, err := Load(root)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	stale, err := c.CheckSeal(ctx, false)
	if err != nil || len(stale) != 4 {
		t.Fatalf("unsealed kit: stale = %v, %v; want 4 entries", stale, err)
	}
	if _, err := c.Seal(); err != nil {
		t.Fatal(err)
	}
	if c, err = Load(root); err != nil {
		t.Fatal(err)
	}
	if stale, err := c.CheckSeal(ctx, true); err != nil || len(stale) != 0 {
		t.Fatalf("fresh seal: stale = %v, %v", stale, err)
	}
	// An instructor commits a solved starter: fine outside CI (the sealed blob is in git), stale in CI.
	kittest.Write(t, root, map[string]string{"labs/01-first/work.go": kittest.Solved("first")})
	if stale, _ := c.CheckSeal(ctx, false); len(stale) != 0 {
		t.Fatalf("solved starter outside CI: stale = %v", stale)
	}
	if stale, _ := c.CheckSeal(ctx, true); len(stale) != 1 || stale[0].File != "labs/01-first/work.go" {
		t.Fatalf("solved starter in CI: stale = %v", stale)
	}
	// An edited test is always stale.
	kittest.Write(t, root, map[string]string{"labs/02-second/second_test.go": "package second\n"})
	stale, _ = c.CheckSeal(ctx, false)
	if len(stale) != 1 || !strings.Contains(stale[0].String(), "second_test.go: test file changed") {
		t.Fatalf("edited test: stale = %v", stale)
	}
	// Shipped gives the sealed content back from git.
	l1, _ := c.Lab(1)
	data, err := c.Shipped(ctx, l1, "work.go")
	if err != nil || string(data) != kittest.Starter("first") {
		t.Fatalf("Shipped = %q, %v", data, err)
	}
}

func TestWriteFileAtomic(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f.txt")
	if err := WriteFileAtomic(path, []byte("one"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteFileAtomic(path, []byte("two"), 0o644); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	entries, _ := os.ReadDir(filepath.Dir(path))
	if string(data) != "two" || len(entries) != 1 {
		t.Fatalf("content %q, %d entries", data, len(entries))
	}
}

func TestReadmeTableRewrite(t *testing.T) {
	labs := []Lab{{Number: 1, Slug: "01-a", Title: "A", Failure: "LOST", Summary: "x | y"}}
	in := []byte("# kit\n<!-- labs:begin (generated) -->\nold\n<!-- labs:end -->\ntail\n")
	out, err := RewriteReadme(in, ReadmeTable(labs))
	if err != nil {
		t.Fatal(err)
	}
	want := "# kit\n<!-- labs:begin (generated) -->\n| # | lab | the starter shows | what goes wrong |\n|---|---|---|---|\n" +
		"| 1 | [A](labs/01-a/README.md) | **LOST** | x \\| y |\n<!-- labs:end -->\ntail\n"
	if string(out) != want {
		t.Fatalf("got:\n%s\nwant:\n%s", out, want)
	}
	if _, err := RewriteReadme([]byte("no markers"), ""); err == nil {
		t.Fatal("no error for a README without markers")
	}
}
