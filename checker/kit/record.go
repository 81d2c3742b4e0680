package kit

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"reflect"

	"msglabs/checker/lab"
	"msglabs/checker/progress"
)

// Record saves a run's outcome in the progress when the run says something about the attendee's code (it passed or
// failed; never INFRA or not counted), and notes in res what it unlocked. A chaos-only run records only a chaos
// pass. It is the one place a run's outcome reaches the progress, under the progress file's lock.
func (k *Kit) Record(res *RunResult) error {
	out := res.Outcome()
	if out != Passed && out != Failing {
		return nil
	}
	if res.ChaosOnly && !res.Chaos.Passed() {
		return nil
	}
	if !res.ChaosOnly && res.Report == nil {
		return nil
	}
	before := k.List()
	slug, at := res.Lab.Slug, k.Now()
	err := k.Update(func(st *progress.State) {
		if res.ChaosOnly {
			st.RecordChaos(slug, at)
			return
		}
		run := progress.Run{At: at, Passed: out == Passed}
		for _, s := range res.Steps {
			run.Steps = append(run.Steps, s.Passed)
		}
		if res.Chaos != nil {
			run.Chaos = progress.RunFail
			if res.Chaos.Passed() {
				run.Chaos = progress.RunPass
			}
		}
		st.Record(slug, run)
	})
	if err != nil {
		return err
	}
	res.Recorded = true
	res.Unlocked = unlocked(before, k.List(), res.Lab.Number)
	return nil
}

// unlocked names what became unlocked between two listings, labs first, then solutions. The lab that was run (ran)
// is never among the labs: run ahead while locked and passed, it opened because it passed, which the run's verdict
// already says; "unlocked: lab 5" right under "lab 5 passed" reads as nonsense.
func unlocked(before, after []LabInfo, ran int) []string {
	var labs, solutions []string
	for i := range after {
		if i >= len(before) {
			break
		}
		if after[i].Unlocked && !before[i].Unlocked && after[i].Number != ran {
			labs = append(labs, fmt.Sprintf("lab %d", after[i].Number))
		}
		if after[i].SolutionUnlocked && !before[i].SolutionUnlocked {
			solutions = append(solutions, fmt.Sprintf("solution %d", after[i].Number))
		}
	}
	return append(labs, solutions...)
}

// Update changes the progress under its lock (see progress.Store.Update), and the mob's shared progress too when
// the checkout has one.
func (k *Kit) Update(change func(*progress.State)) error {
	if err := k.Progress.Update(change); err != nil {
		return err
	}
	return k.syncShared()
}

// Reload re-reads the progress when another checker changed it, and reports whether it did.
func (k *Kit) Reload() (bool, error) { return k.Progress.Reload() }

// syncShared merges the checkout's progress into the shared file, when there is one.
func (k *Kit) syncShared() error {
	if k.Shared == nil {
		return nil
	}
	local := k.Progress.State()
	if err := k.Shared.Update(func(st *progress.State) { *st = progress.Merge(*st, local) }); err != nil {
		return fmt.Errorf("shared progress %s: %w", progress.SharedFile, err)
	}
	return nil
}

// openShared opens the mob's shared progress when the file exists, and merges it into the checkout's progress
// (writing only when that changes something).
func (k *Kit) openShared() error {
	path := k.path(progress.SharedFile)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	shared, warn := progress.LoadLocked(path, k.sharedLock())
	k.Shared = shared
	if warn != nil {
		k.Warnings = append(k.Warnings, warn.Error())
	}
	local := k.Progress.State()
	theirs := shared.State()
	if reflect.DeepEqual(progress.Merge(local, theirs), local) {
		return nil
	}
	if err := k.Progress.Update(func(st *progress.State) { *st = progress.Merge(*st, theirs) }); err != nil {
		return fmt.Errorf("merge %s: %w", progress.SharedFile, err)
	}
	return nil
}

// Share starts keeping the progress in the mob's shared file too (on: creates it from the checkout's progress),
// or stops (off: merges it into the checkout's progress, then removes it). It returns the file, relative to the
// kit root.
func (k *Kit) Share(on bool) (string, error) {
	if on {
		if k.Shared == nil {
			shared, _ := progress.LoadLocked(k.path(progress.SharedFile), k.sharedLock())
			k.Shared = shared
		}
		return progress.SharedFile, k.syncShared()
	}
	if k.Shared != nil {
		theirs := k.Shared.State()
		if err := k.Progress.Update(func(st *progress.State) { *st = progress.Merge(*st, theirs) }); err != nil {
			return progress.SharedFile, err
		}
		k.Shared = nil
	}
	if err := os.Remove(k.path(progress.SharedFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return progress.SharedFile, fmt.Errorf("stop sharing progress: %w", err)
	}
	return progress.SharedFile, nil
}

// sharedLock is the shared progress's lock file: under .msglabs/, out of what the mob commits.
func (k *Kit) sharedLock() string { return k.path(progress.File) + ".shared.lock" }

// labsBefore returns the labs before lab n, in catalog order.
func (k *Kit) labsBefore(n int) ([]lab.Lab, error) {
	i := k.Catalog.Index(n)
	if i < 0 {
		_, err := k.Catalog.Lab(n)
		return nil, err
	}
	return k.Catalog.Labs[:i], nil
}
