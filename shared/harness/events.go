package harness

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"msglabs/shared/story"
)

// EnvRunDir names the folder the checker gives a test binary for what it leaves behind (.msglabs/runs/NN): with it
// set, every test writes its timeline's events to events/<Test>.json there when it ends.
const EnvRunDir = "MSGLABS_RUN_DIR"

// labFolder matches a lab's folder name, "05-idempotent-consumer".
var labFolder = regexp.MustCompile(`^\d\d-[a-z0-9-]+$`)

// exportEvents writes the test's events (story.Export, the shape the checker draws from) when MSGLABS_RUN_DIR is
// set. An Env that recorded nothing does not replace a file another Env of the same test wrote.
func (e *Env) exportEvents() {
	dir := os.Getenv(EnvRunDir)
	if dir == "" {
		return
	}
	entries := e.Timeline.Entries()
	path := filepath.Join(dir, "events", EventFile(e.T.Name()))
	if _, err := os.Stat(path); err == nil && len(entries) == 0 {
		return
	}
	e.mu.Lock()
	v := e.verdict
	e.mu.Unlock()
	failed := e.T.Failed()
	if !failed {
		v = verdict{}
	}
	lab := filepath.Base(workDir())
	if !labFolder.MatchString(lab) {
		lab = ""
	}
	x := story.NewExport(e.T.Name(), lab, failed, v.marker, v.headline, entries)
	if err := writeJSON(path, x); err != nil {
		e.T.Logf("events not exported: %v", err)
	}
}

// EventFile is the file name of a test's events: its name with "/" (sub-tests) as "__", and ".json".
func EventFile(test string) string { return strings.ReplaceAll(test, "/", "__") + ".json" }

// writeJSON writes v to path through a temporary file and a rename, so a reader never sees half a file.
func writeJSON(path string, v any) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".events-*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}
