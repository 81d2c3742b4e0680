package progress

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"msglabs/checker/safefile"
)

// LockTimeout bounds the wait for another checker's lock on the progress file. A holder keeps it for the
// milliseconds of a read and a write, so a longer wait means something is wrong.
const LockTimeout = 10 * time.Second

// Store is the progress of one kit checkout, backed by a file. A Store is owned by one goroutine; several Stores
// (in one process or several) may share a file, and Update keeps them from losing each other's changes.
type Store struct {
	path     string
	lockPath string
	state    State
	stamp    stamp
	warnings []string
	// Now is the clock used to name a corrupt file moved aside; tests replace it.
	Now func() time.Time
}

// stamp identifies a version of the file cheaply, so Reload reads only when it changed. Every save replaces the
// file by a rename, so a new version is a new file even when its size and modification time look the same.
type stamp struct {
	fi os.FileInfo // nil: no file was read
}

func (a stamp) same(fi os.FileInfo) bool {
	return a.fi != nil && os.SameFile(a.fi, fi) && a.fi.ModTime().Equal(fi.ModTime()) && a.fi.Size() == fi.Size()
}

// Load reads the progress file at path. A missing file is an empty progress. A corrupt file is moved aside to
// <path>.corrupt-<time> and reported in the returned warning, and the progress starts afresh; it is never fatal.
func Load(path string) (s *Store, warning error) { return LoadLocked(path, path+".lock") }

// LoadLocked is Load with the lock file at lockPath: a file that is committed keeps its lock out of the work tree.
func LoadLocked(path, lockPath string) (s *Store, warning error) {
	s = &Store{path: path, lockPath: lockPath, state: State{Version: version, Labs: map[string]*LabProgress{}}, Now: time.Now}
	if _, err := s.Reload(); err != nil {
		return s, err
	}
	if w := s.Warnings(); len(w) > 0 {
		return s, errors.New(joinLines(w))
	}
	return s, nil
}

// Path is the file the store reads and writes.
func (s *Store) Path() string { return s.path }

// Lab returns a copy of the progress of a lab (a zero value if there is none yet).
func (s *Store) Lab(slug string) LabProgress { return s.state.Lab(slug) }

// State returns a copy of the whole progress.
func (s *Store) State() State { return s.state.Clone() }

// Warnings returns, and forgets, what went wrong without stopping anything since the last call: a corrupt file
// moved aside, values out of range that were clamped.
func (s *Store) Warnings() []string {
	w := s.warnings
	s.warnings = nil
	return w
}

// Update applies change to the progress as it is on disk now, under the file lock, and saves it: a change another
// checker saved since this store last read the file is kept. The store's state becomes the saved one.
func (s *Store) Update(change func(*State)) error {
	if err := mkdirs(s.path, s.lockPath); err != nil {
		return fmt.Errorf("save progress: %w", err)
	}
	unlock, err := lockFile(s.lockPath, LockTimeout)
	if err != nil {
		return fmt.Errorf("save progress: %w", err)
	}
	defer unlock()
	st, stp, err := s.read()
	if err != nil {
		return fmt.Errorf("save progress: %w", err)
	}
	change(&st)
	st.validate()
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("save progress: %w", err)
	}
	if err := safefile.Write(s.path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("save progress: %w", err)
	}
	s.state, s.stamp = st, stp
	if fi, err := os.Stat(s.path); err == nil {
		s.stamp = stamp{fi}
	}
	return nil
}

// Reload re-reads the file if it changed since this store last read or wrote it (another checker recorded a pass,
// say), and reports whether it did. An open TUI calls it to show what other checkers recorded.
func (s *Store) Reload() (bool, error) {
	fi, err := os.Stat(s.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if s.stamp.fi == nil {
			return false, nil
		}
	case err != nil:
		return false, fmt.Errorf("read progress %s: %w", s.path, err)
	case s.stamp.same(fi):
		return false, nil
	}
	st, stp, err := s.readLocked()
	if err != nil {
		return false, err
	}
	s.state, s.stamp = st, stp
	return true, nil
}

// readLocked reads the file; when it is corrupt it takes the lock, so that moving it aside cannot race a writer.
func (s *Store) readLocked() (State, stamp, error) {
	st, stp, corrupt, err := s.decode()
	if err != nil || !corrupt {
		return st, stp, err
	}
	if err := mkdirs(s.lockPath); err != nil {
		return st, stp, fmt.Errorf("read progress: %w", err)
	}
	unlock, err := lockFile(s.lockPath, LockTimeout)
	if err != nil {
		return st, stp, fmt.Errorf("read progress: %w", err)
	}
	defer unlock()
	return s.read()
}

// read reads the file, moving it aside when it is corrupt. The caller holds the lock.
func (s *Store) read() (State, stamp, error) {
	st, stp, corrupt, err := s.decode()
	if err != nil || !corrupt {
		return st, stp, err
	}
	aside, err := s.moveAside()
	if err != nil {
		return st, stamp{}, err
	}
	s.warnings = append(s.warnings, fmt.Sprintf("progress file %s was corrupt; moved it to %s and started afresh", s.path, aside))
	return st, stamp{}, nil
}

// decode reads and validates the file. corrupt is true when it exists but is not a progress file; st is then empty.
func (s *Store) decode() (st State, stp stamp, corrupt bool, err error) {
	st = State{Version: version, Labs: map[string]*LabProgress{}}
	fi, err := os.Stat(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return st, stamp{}, false, nil
	}
	if err != nil {
		return st, stamp{}, false, fmt.Errorf("read progress %s: %w", s.path, err)
	}
	data, err := os.ReadFile(s.path)
	if err != nil {
		return st, stamp{}, false, fmt.Errorf("read progress %s: %w", s.path, err)
	}
	decoded, ok := parse(data)
	if !ok {
		return st, stamp{}, true, nil
	}
	s.warnings = append(s.warnings, decoded.validate()...)
	return decoded, stamp{fi}, false, nil
}

// parse decodes the file's bytes, migrating version 1 (one hint count per lab) to steps.
func parse(data []byte) (State, bool) {
	var st State
	if err := json.Unmarshal(data, &st); err != nil || st.Version < 1 || st.Version > version {
		return State{}, false
	}
	if st.Version < version {
		var v1 struct {
			Labs map[string]*struct {
				HintsShown int `json:"hints_shown"`
			} `json:"labs"`
		}
		if json.Unmarshal(data, &v1) == nil {
			for slug, old := range v1.Labs {
				if p := st.Labs[slug]; p != nil && old != nil && old.HintsShown != 0 {
					p.step(1).HintsShown = old.HintsShown
				}
			}
		}
	}
	return st, true
}

// moveAside renames the corrupt file to <path>.corrupt-<time>, with a counter when that name is taken.
func (s *Store) moveAside() (string, error) {
	base := s.path + ".corrupt-" + s.Now().Format("20060102-150405")
	aside := base
	for i := 2; ; i++ {
		if _, err := os.Lstat(aside); errors.Is(err, fs.ErrNotExist) {
			break
		}
		aside = fmt.Sprintf("%s-%d", base, i)
	}
	if err := os.Rename(s.path, aside); err != nil {
		return "", fmt.Errorf("move corrupt progress aside: %w", err)
	}
	return aside, nil
}

func joinLines(lines []string) string {
	var b bytes.Buffer
	for i, l := range lines {
		if i > 0 {
			b.WriteString("\n")
		}
		b.WriteString(l)
	}
	return b.String()
}

// mkdirs creates the folders of the given files.
func mkdirs(files ...string) error {
	for _, f := range files {
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			return err
		}
	}
	return nil
}
