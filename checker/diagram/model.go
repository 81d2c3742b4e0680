// Package diagram draws a test's recorded events as a sequence diagram: one lane per actor (the test, sales, billing,
// billing#2, the broker between them), arrows for what crossed the wire, marks for crashes, kills, cuts and the
// failure. The same Diagram renders as SVG (for a projector or a file) and as lines of terminal text (for the TUI).
//
// The input is the harness's event export (DESIGN.md D5): $MSGLABS_RUN_DIR/events/<TestName>.json, one file per test.
// Nothing here parses timeline text; text is only shown.
package diagram

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Kind is what an event was. The set is fixed by the export format (D5).
type Kind string

// Event kinds.
const (
	Publish           Kind = "publish"
	Deliver           Kind = "deliver"
	Ack               Kind = "ack"
	Nack              Kind = "nack"
	Reject            Kind = "reject"
	Confirm           Kind = "confirm"
	Refuse            Kind = "refuse"
	Return            Kind = "return"
	Consume           Kind = "consume"
	Declare           Kind = "declare"
	Bind              Kind = "bind"
	Crash             Kind = "crash"
	Kill              Kind = "kill"
	Cut               Kind = "cut"
	RefusedConnection Kind = "refused-connection"
	Exit              Kind = "exit"
	Log               Kind = "log"
	Failure           Kind = "failure"
)

// Event is one recorded happening, as the harness exports it.
type Event struct {
	AtMS        float64 `json:"at_ms"`             // milliseconds since the test's timeline started
	Actor       string  `json:"actor"`             // "sales", "billing#2", "test"
	Kind        Kind    `json:"kind"`              // see the Kind constants
	Message     string  `json:"message,omitempty"` // the message it is about: "m-1"
	Peer        string  `json:"peer,omitempty"`    // the queue or exchange (short name), or another actor
	Redelivered bool    `json:"redelivered,omitempty"`
	Text        string  `json:"text"` // the timeline's line for it
}

// Run is one test's export: its verdict and its events in order.
type Run struct {
	Test     string   `json:"test"`
	Lab      string   `json:"lab"`
	Failed   bool     `json:"failed"`
	Marker   string   `json:"marker,omitempty"`
	Headline string   `json:"headline,omitempty"`
	Actors   []string `json:"actors"`
	Events   []Event  `json:"events"`
}

// ErrNoEvents means a run directory has no exported events (the lab was not run yet, or by an older kit).
var ErrNoEvents = errors.New("no recorded events")

// ErrNoFailure means every exported test of the run passed.
var ErrNoFailure = errors.New("no failing test")

// RunDir is where the checker keeps lab n's last run (D3): <root>/.msglabs/runs/NN.
func RunDir(root string, n int) string {
	return filepath.Join(root, ".msglabs", "runs", fmt.Sprintf("%02d", n))
}

// EventsFile is the export of one test inside a run directory; a sub-test's "/" becomes "__".
func EventsFile(runDir, test string) string {
	return filepath.Join(runDir, "events", strings.ReplaceAll(test, "/", "__")+".json")
}

// Load reads one exported test.
func Load(path string) (Run, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Run{}, fmt.Errorf("read events: %w", err)
	}
	var r Run
	if err := json.Unmarshal(data, &r); err != nil {
		return Run{}, fmt.Errorf("events file %s is not valid: %w", path, err)
	}
	return r, nil
}

// LoadTest reads the export of one test of a run. A test told as sub-tests (one per crash point, say) exports one
// file per sub-test and none of its own: then it reads its first failing sub-test, or its first sub-test.
func LoadTest(runDir, test string) (Run, error) {
	r, err := Load(EventsFile(runDir, test))
	if errors.Is(err, fs.ErrNotExist) {
		if sub, ok := firstSubTest(runDir, test); ok {
			return sub, nil
		}
		return Run{}, fmt.Errorf("test %s in %s: %w", test, runDir, ErrNoEvents)
	}
	return r, err
}

// firstSubTest finds, among the run's exports, test's failing sub-test (the first to finish), else its first one.
func firstSubTest(runDir, test string) (Run, bool) {
	all, err := LoadAll(runDir)
	if err != nil {
		return Run{}, false
	}
	var first *Run
	for i, r := range all {
		if !strings.HasPrefix(r.Test, test+"/") {
			continue
		}
		if r.Failed {
			return r, true
		}
		if first == nil {
			first = &all[i]
		}
	}
	if first == nil {
		return Run{}, false
	}
	return *first, true
}

// LoadAll reads every exported test of a run, in the order they finished (the files' modification times, then
// names), which is the order the tests ran.
func LoadAll(runDir string) ([]Run, error) {
	dir := filepath.Join(runDir, "events")
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", dir, ErrNoEvents)
	}
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	type file struct {
		path string
		mod  int64
	}
	var files []file
	for _, e := range entries {
		if e.IsDir() || filepath.Ext(e.Name()) != ".json" {
			continue
		}
		info, err := e.Info()
		if err != nil {
			return nil, fmt.Errorf("read events: %w", err)
		}
		files = append(files, file{filepath.Join(dir, e.Name()), info.ModTime().UnixNano()})
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%s: %w", dir, ErrNoEvents)
	}
	sort.Slice(files, func(i, j int) bool {
		if files[i].mod != files[j].mod {
			return files[i].mod < files[j].mod
		}
		return files[i].path < files[j].path
	})
	runs := make([]Run, 0, len(files))
	for _, f := range files {
		r, err := Load(f.path)
		if err != nil {
			return nil, err
		}
		runs = append(runs, r)
	}
	return runs, nil
}

// FirstFailing returns the first failing test of a run to finish: a top-level test, or the failing sub-test of a
// test told as sub-tests (which exports none of its own).
func FirstFailing(runDir string) (Run, error) {
	runs, err := LoadAll(runDir)
	if err != nil {
		return Run{}, err
	}
	for _, r := range runs {
		if r.Failed {
			return r, nil
		}
	}
	return Run{}, fmt.Errorf("%s: %w", runDir, ErrNoFailure)
}
