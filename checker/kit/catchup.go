package kit

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"msglabs/checker/lab"
	"msglabs/checker/progress"
	"msglabs/checker/safefile"
)

// CatchUpResult says what CatchUp did.
type CatchUpResult struct {
	Target  lab.Lab   // the lab the checkout now starts at
	Backup  string    // the folder the replaced files were copied to, relative to the kit root; "" when none
	Applied []lab.Lab // labs whose reference solution was written and that are now passed (caught up)
	Kept    []lab.Lab // labs the attendee passed themselves: their files were left as they are
}

// CatchUp brings the checkout to the start of lab n, as for a mob that joins late: every lab before it that the
// attendee has not passed themselves gets its reference solution (their files backed up first, all in one backup
// folder) and is recorded as passed, marked caught up rather than solved. Lab n and the labs after it are left as
// they are.
func (k *Kit) CatchUp(ctx context.Context, n int) (*CatchUpResult, error) {
	target, err := k.Catalog.Lab(n)
	if err != nil {
		return nil, err
	}
	before, err := k.labsBefore(n)
	if err != nil {
		return nil, err
	}
	res := &CatchUpResult{Target: target}
	for _, l := range before {
		if p := k.Progress.Lab(l.Slug); p.Passed && !p.CaughtUp {
			res.Kept = append(res.Kept, l)
			continue
		}
		res.Applied = append(res.Applied, l)
	}
	if len(res.Applied) == 0 {
		return res, nil
	}
	stamp := k.backupStamp()
	for _, l := range res.Applied {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		if err := k.backupTo(stamp, l); err != nil {
			return res, err
		}
	}
	res.Backup = BackupDir + "/" + stamp
	for _, l := range res.Applied {
		if err := k.writeSolution(l); err != nil {
			return res, err
		}
	}
	at := k.Now()
	err = k.Update(func(st *progress.State) {
		for _, l := range res.Applied {
			st.CatchUp(l.Slug, len(l.Steps), at)
		}
	})
	return res, err
}

// writeSolution writes lab l's final reference solution over its edit files.
func (k *Kit) writeSolution(l lab.Lab) error {
	for _, f := range l.Edit {
		data, err := os.ReadFile(k.Catalog.Path(l.SolutionDir() + "/" + f))
		if err != nil {
			return fmt.Errorf("catch up lab %d: read solution: %w", l.Number, err)
		}
		if err := safefile.Write(filepath.Join(k.Catalog.Path(l.Dir()), f), StripBuildLine(data), 0o644); err != nil {
			return fmt.Errorf("catch up lab %d: %w", l.Number, err)
		}
	}
	return nil
}
