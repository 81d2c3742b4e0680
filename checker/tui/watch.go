package tui

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/fsnotify/fsnotify"
)

const (
	// watchDebounce lets a burst of events from one save (write, chmod, rename) become one run.
	watchDebounce = 300 * time.Millisecond
	// pollInterval is how often the polling watcher compares modification times.
	pollInterval = time.Second
	// readdInterval is how often a watch on a directory that went away (moved, checked out anew) is retried.
	readdInterval = 500 * time.Millisecond
)

// watcher tells when a Go file in a lab folder changed. It watches the directory rather than the files, so editors
// that save by writing a new file and renaming it over the old one are seen; when the directory itself goes away it
// is added again once it is back. Where file system events do not arrive (WSL's /mnt, network disks) it polls the
// modification times instead: when fsnotify cannot start, or with MSGLABS_WATCH=poll.
type watcher struct {
	dir  string
	mode string
	C    chan struct{} // one value per (debounced) change; capacity 1, so changes coalesce
	done chan struct{}
	once sync.Once
	wg   sync.WaitGroup
}

// startWatcher watches dir; poll forces polling.
func startWatcher(dir string, poll bool, debounce, interval time.Duration) *watcher {
	w := &watcher{dir: dir, C: make(chan struct{}, 1), done: make(chan struct{})}
	if !poll {
		if fw, err := fsnotify.NewWatcher(); err == nil {
			if err := fw.Add(dir); err == nil {
				w.mode = "fsnotify"
				w.wg.Add(1)
				go w.notifyLoop(fw, debounce)
				return w
			}
			fw.Close()
		}
	}
	w.mode = "polling"
	w.wg.Add(1)
	go w.pollLoop(interval)
	return w
}

// Mode is "fsnotify" or "polling".
func (w *watcher) Mode() string { return w.mode }

// Close stops the watcher and waits for its goroutine.
func (w *watcher) Close() {
	w.once.Do(func() { close(w.done) })
	w.wg.Wait()
}

func (w *watcher) fire() {
	select {
	case w.C <- struct{}{}:
	default:
	}
}

// relevant reports whether a changed file matters: Go files, not editor backups or temporary files.
func relevant(name string) bool {
	base := filepath.Base(name)
	return strings.HasSuffix(base, ".go") && !strings.HasPrefix(base, ".") && !strings.HasPrefix(base, "#")
}

func (w *watcher) notifyLoop(fw *fsnotify.Watcher, debounce time.Duration) {
	defer w.wg.Done()
	defer fw.Close()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var retry <-chan time.Time
	for {
		select {
		case <-w.done:
			timer.Stop()
			return
		case ev, ok := <-fw.Events:
			if !ok {
				return
			}
			if filepath.Clean(ev.Name) == filepath.Clean(w.dir) && ev.Has(fsnotify.Remove|fsnotify.Rename) {
				_ = fw.Remove(w.dir)
				retry = time.After(readdInterval)
				continue
			}
			if relevant(ev.Name) && ev.Op != fsnotify.Chmod {
				timer.Reset(debounce)
			}
		case <-fw.Errors:
			// An overflow or a transient error: a run is cheaper than a missed save.
			timer.Reset(debounce)
		case <-retry:
			if err := fw.Add(w.dir); err != nil {
				retry = time.After(readdInterval)
				continue
			}
			retry = nil
			timer.Reset(debounce) // the folder came back, probably with other files
		case <-timer.C:
			w.fire()
		}
	}
}

type stamp struct {
	mod  time.Time
	size int64
}

func snapshot(dir string) map[string]stamp {
	out := map[string]stamp{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return out
	}
	for _, e := range entries {
		if e.IsDir() || !relevant(e.Name()) {
			continue
		}
		if fi, err := e.Info(); err == nil {
			out[e.Name()] = stamp{fi.ModTime(), fi.Size()}
		}
	}
	return out
}

func (w *watcher) pollLoop(interval time.Duration) {
	defer w.wg.Done()
	last := snapshot(w.dir)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-w.done:
			return
		case <-t.C:
			cur := snapshot(w.dir)
			if changed(last, cur) {
				w.fire()
			}
			last = cur
		}
	}
}

func changed(a, b map[string]stamp) bool {
	if len(a) != len(b) {
		return true
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || !w.mod.Equal(v.mod) || w.size != v.size {
			return true
		}
	}
	return false
}

// waitWatch delivers the next change as a watchMsg; nothing once the watcher is closed.
func waitWatch(w *watcher, gen int) tea.Cmd {
	if w == nil {
		return nil
	}
	return func() tea.Msg {
		select {
		case <-w.C:
			return watchMsg{gen}
		case <-w.done:
			return nil
		}
	}
}
