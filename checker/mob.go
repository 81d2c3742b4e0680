package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"msglabs/checker/lab"
	"msglabs/checker/mob"
)

// mobTick is how often `checker mob` refreshes its countdown.
var mobTick = time.Second

// cmdMob keeps a mob's rotation without the TUI: it prints who drives and navigates, counts down, and rings the
// bell with a banner at each rotation, until interrupted. With names it starts a new rotation; without, it resumes
// the one in .msglabs/mob.json (the TUI's `m` shares it).
func (a *app) cmdMob(ctx context.Context, args []string) int {
	fs := a.flags("mob")
	minutes := fs.Int("minutes", mob.DefaultMinutes, "minutes per turn")
	end := fs.Bool("end", false, "end the rotation (remove "+mob.File+")")
	pos, err := parse(fs, args)
	if err != nil {
		return usageErr(err)
	}
	root, err := lab.FindRoot(a.dir)
	if err != nil {
		fmt.Fprintf(a.stderr, "checker mob: %v\n", err)
		return exitEnv
	}
	path := filepath.Join(root, filepath.FromSlash(mob.File))
	if *end {
		if err := mob.Remove(path); err != nil {
			fmt.Fprintf(a.stderr, "checker mob: %v\n", err)
			return exitEnv
		}
		fmt.Fprintln(a.stdout, "mob rotation ended")
		return exitOK
	}
	now := a.now()
	st, ok := mob.Load(path)
	switch {
	case len(pos) > 0:
		if st, err = mob.New(pos, *minutes, now); err != nil {
			fmt.Fprintf(a.stderr, "checker mob: %v\n", err)
			return exitEnv
		}
		if err := mob.Save(path, st); err != nil {
			fmt.Fprintf(a.stderr, "checker mob: %v\n", err)
			return exitEnv
		}
	case !ok:
		fmt.Fprintln(a.stderr, "checker mob: no rotation yet; start one with names, e.g. `checker mob --minutes 7 ann bob cem`")
		return exitEnv
	default:
		fmt.Fprintln(a.stdout, "resuming the rotation kept in "+mob.File)
	}
	at := st.At(now)
	fmt.Fprintf(a.stdout, "mob of %d, %d-minute turns: %s\n", len(st.Members), st.Minutes, strings.Join(st.Members, " → "))
	fmt.Fprintf(a.stdout, "%s drives, %s navigates · %s left (Ctrl-C stops the timer; the rotation is kept)\n", at.Driver, at.Navigator, mob.Clock(at.Left))
	live := a.isTerminal()
	t := time.NewTicker(mobTick)
	defer t.Stop()
	lastMinute := int(at.Left / time.Minute)
	for {
		select {
		case <-ctx.Done():
			if live {
				fmt.Fprintln(a.stdout)
			}
			return exitOK
		case <-t.C:
		}
		now = a.now()
		if st.Advance(now) {
			if err := mob.Save(path, st); err != nil {
				fmt.Fprintf(a.stderr, "checker mob: %v\n", err)
			}
			at = st.At(now)
			if live {
				fmt.Fprint(a.stdout, "\r\033[K")
			}
			fmt.Fprintf(a.stdout, "\a⟳ ROTATE ⟳  %s drives now, %s navigates\n", at.Driver, at.Navigator)
			lastMinute = int(at.Left / time.Minute)
			continue
		}
		at = st.At(now)
		if live {
			fmt.Fprintf(a.stdout, "\r\033[K%s drives · %s navigates · %s left", at.Driver, at.Navigator, mob.Clock(at.Left))
		} else if m := int(at.Left / time.Minute); m != lastMinute {
			lastMinute = m
			fmt.Fprintf(a.stdout, "%s left for %s\n", mob.Clock(at.Left), at.Driver)
		}
	}
}
