package safefile

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWriteReplacesAndLeavesNoTemporaryFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f.txt")
	if err := Write(path, []byte("one"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Write(path, []byte("two"), 0o600); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	entries, _ := os.ReadDir(filepath.Dir(path))
	st, _ := os.Stat(path)
	if string(data) != "two" || len(entries) != 1 || st.Mode().Perm() != 0o600 {
		t.Fatalf("content %q, %d entries, mode %v; want \"two\", 1 entry, 0600", data, len(entries), st.Mode().Perm())
	}
}

func TestWriteIntoMissingFolderFails(t *testing.T) {
	if err := Write(filepath.Join(t.TempDir(), "no", "f.txt"), []byte("x"), 0o644); err == nil {
		t.Fatal("Write into a missing folder returned no error")
	}
}
