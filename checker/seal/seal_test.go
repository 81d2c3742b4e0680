package seal

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"msglabs/checker/kittest"
	"msglabs/checker/lab"
)

func TestBlobID(t *testing.T) {
	// `printf 'hello\n' | git hash-object --stdin` and `git hash-object /dev/null`.
	if got := BlobID([]byte("hello\n")); got != "ce013625030ba8dba906f756967f9e9ca394464a" {
		t.Fatalf("BlobID(hello) = %s", got)
	}
	if got := BlobID(nil); got != "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391" {
		t.Fatalf("BlobID(empty) = %s", got)
	}
}

// kit is the sample kit with a shared/ file, a lab helper and testdata, loaded.
func kit(t *testing.T) *lab.Catalog {
	t.Helper()
	root := kittest.New(t)
	kittest.Write(t, root, map[string]string{
		"shared/story/story.go":              "package story\n",
		"labs/01-first/helper.go":            "package first\n",
		"labs/01-first/testdata/fixture.txt": "data\n",
		"labs/01-first/README.md":            "# notes welcome\n",
	})
	return load(t, root)
}

func load(t *testing.T, root string) *lab.Catalog {
	t.Helper()
	c, err := lab.Load(root)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestWriteSealsEveryKindAndLeavesTheReadmeOut(t *testing.T) {
	c := kit(t)
	changed, err := Write(c)
	if err != nil || !changed {
		t.Fatalf("Write = %v, %v", changed, err)
	}
	sum := kittest.Read(t, c.Root, lab.SumFile)
	for _, want := range []string{
		"test labs/01-first/first_test.go ", "starter labs/01-first/work.go ", "lab labs/01-first/lab.yaml ",
		"lab labs/01-first/helper.go ", "lab labs/01-first/testdata/fixture.txt ", "shared shared/story/story.go ",
		"test labs/02-second/second_test.go ",
	} {
		if !strings.Contains(sum, want) {
			t.Fatalf("labs.sum lacks %q:\n%s", want, sum)
		}
	}
	if strings.Contains(sum, "README.md") {
		t.Fatalf("labs.sum seals the README:\n%s", sum)
	}
	l, _ := c.Lab(1)
	if l.Sealed.Starter["work.go"] != BlobID([]byte(kittest.Starter("first"))) || l.Sealed.Lab["testdata/fixture.txt"] == "" {
		t.Fatalf("Write did not update the catalog: %+v", l.Sealed)
	}
	if changed, err := Write(load(t, c.Root)); err != nil || changed {
		t.Fatalf("second Write = %v, %v; want unchanged", changed, err)
	}
	if stale, err := Check(context.Background(), load(t, c.Root), true); err != nil || len(stale) != 0 {
		t.Fatalf("fresh seal: stale = %v, %v", stale, err)
	}
}

func TestCheckFindsEveryKindOfChange(t *testing.T) {
	c := kit(t)
	if _, err := Write(c); err != nil {
		t.Fatal(err)
	}
	kittest.Commit(t, c.Root)
	ctx := context.Background()
	cases := []struct {
		name   string
		files  map[string]string
		remove string
		strict bool
		want   string // "" = not stale
	}{
		{name: "edited test", files: map[string]string{"labs/02-second/second_test.go": "package second\n"},
			want: "labs/02-second/second_test.go: test file changed since it was sealed"},
		{name: "new test file", files: map[string]string{"labs/01-first/extra_test.go": "package first\n"},
			want: "labs/01-first/extra_test.go: test file is not sealed"},
		{name: "edited lab file", files: map[string]string{"labs/01-first/testdata/fixture.txt": "other\n"},
			want: "labs/01-first/testdata/fixture.txt: lab file changed since it was sealed"},
		{name: "edited lab.yaml", files: map[string]string{"labs/01-first/lab.yaml": kittest.Meta(1) + "# more\n"},
			want: "labs/01-first/lab.yaml: lab file changed"},
		{name: "edited shared file", files: map[string]string{"shared/story/story.go": "package story // x\n"},
			want: "shared/story/story.go: shared file changed since it was sealed"},
		{name: "new shared file", files: map[string]string{"shared/story/more.go": "package story\n"},
			want: "shared/story/more.go: shared file is not sealed"},
		{name: "removed lab file", remove: "labs/01-first/helper.go", want: "labs/01-first/helper.go: sealed file no longer exists"},
		{name: "solved starter outside CI", files: map[string]string{"labs/01-first/work.go": kittest.Solved("first")}},
		{name: "solved starter in CI", files: map[string]string{"labs/01-first/work.go": kittest.Solved("first")}, strict: true,
			want: "labs/01-first/work.go: starter file changed since it was sealed"},
		{name: "edited README", files: map[string]string{"labs/01-first/README.md": "# my notes\n"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			copyTree(t, c.Root, root)
			kittest.Write(t, root, tc.files)
			if tc.remove != "" {
				if err := os.Remove(filepath.Join(root, tc.remove)); err != nil {
					t.Fatal(err)
				}
			}
			stale, err := Check(ctx, load(t, root), tc.strict)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, s := range stale {
				got = append(got, s.String())
			}
			switch {
			case tc.want == "" && len(stale) != 0:
				t.Fatalf("stale = %q; want none", got)
			case tc.want != "" && (len(stale) != 1 || !strings.HasPrefix(got[0], tc.want)):
				t.Fatalf("stale = %q; want one: %q", got, tc.want)
			}
		})
	}
}

func TestCountsOnlyWhatTheAttendeeMayChange(t *testing.T) {
	c := kit(t)
	if _, err := Write(c); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		files map[string]string
		want  string // "" = the run counts
	}{
		{name: "as shipped"},
		{name: "solved edit file", files: map[string]string{"labs/01-first/work.go": kittest.Solved("first")}},
		{name: "notes in the README and a file of their own", files: map[string]string{
			"labs/01-first/README.md": "# my notes\n", "labs/01-first/mine.go": "package first\n", "labs/01-first/notes.txt": "x"}},
		{name: "edited test", files: map[string]string{"labs/01-first/first_test.go": "package first\n"},
			want: "labs/01-first/first_test.go differs from the shipped file (fix: git checkout -- labs/01-first/first_test.go)"},
		{name: "a test file that always passes", files: map[string]string{"labs/01-first/pass_test.go": "package first\n"},
			want: "labs/01-first/pass_test.go is not part of the kit (fix: delete it, or move it out of labs/01-first)"},
		{name: "edited lab helper", files: map[string]string{"labs/01-first/helper.go": "package first // x\n"},
			want: "labs/01-first/helper.go differs from the shipped file"},
		{name: "edited shared file", files: map[string]string{"shared/story/story.go": "package story // x\n"},
			want: "shared/story/story.go differs from the shipped file (fix: git checkout -- shared/story/story.go)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			copyTree(t, c.Root, root)
			kittest.Write(t, root, tc.files)
			cat := load(t, root)
			l, err := cat.Lab(1)
			if err != nil {
				t.Fatal(err)
			}
			ok, why, err := Counts(cat, l)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tc.want == "" && !ok:
				t.Fatalf("not counted: %q; want the run to count", why)
			case tc.want != "" && (ok || len(why) != 1 || !strings.HasPrefix(why[0], tc.want)):
				t.Fatalf("counts = %v, why = %q; want not counted: %q", ok, why, tc.want)
			}
		})
	}
}

func TestCountsRefusesAnUnsealedLab(t *testing.T) {
	c := kit(t)
	l, _ := c.Lab(1)
	ok, why, err := Counts(c, l)
	if err != nil || ok || len(why) != 1 || !strings.Contains(why[0], "lab 1 is not sealed yet") {
		t.Fatalf("Counts = %v, %q, %v", ok, why, err)
	}
}

func TestShippedComesFromGitWhenTheFileChanged(t *testing.T) {
	c := kit(t)
	if _, err := Write(c); err != nil {
		t.Fatal(err)
	}
	kittest.Commit(t, c.Root)
	kittest.Write(t, c.Root, map[string]string{"labs/01-first/work.go": kittest.Solved("first")})
	l, _ := c.Lab(1)
	ctx := context.Background()
	data, err := Shipped(ctx, c, l, "work.go")
	if err != nil || string(data) != kittest.Starter("first") {
		t.Fatalf("Shipped = %q, %v", data, err)
	}
	if _, err := Shipped(ctx, c, l, "nope.go"); err == nil || !strings.Contains(err.Error(), "is not sealed") {
		t.Fatalf("Shipped(nope.go): %v", err)
	}
	l.Sealed.Starter["work.go"] = BlobID([]byte("never committed"))
	if _, err := Shipped(ctx, c, l, "work.go"); err == nil || !strings.Contains(err.Error(), "not available from git") {
		t.Fatalf("Shipped of a blob git lacks: %v", err)
	}
}

// copyTree copies the files under src (its git repository too) into dst.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}
