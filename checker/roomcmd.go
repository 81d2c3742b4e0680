package main

import (
	"context"
	"io"

	"msglabs/checker/kit"
	"msglabs/checker/room"
)

func init() {
	commands["room"] = func(a *app, ctx context.Context, args []string) int {
		stdout := a.stdout
		if len(args) > 0 && args[0] == "setup" && a.unredacted != nil {
			// setup prints the room's new credentials on purpose (its commands are masked by room.Plan.Redacted).
			stdout = a.unredacted
		}
		return room.Command(ctx, args, stdout, a.stderr)
	}
}

// announce shows the run in the attendee's room, when they joined one (MSGLABS_ROOM): the lab, the step they are
// on, the outcome and its marker, the hints shown and when the lab was started. It never changes the run's result;
// a room that does not answer costs one warning line.
func (a *app) announce(ctx context.Context, lr *labRun, res *kit.RunResult) {
	li, err := lr.k.Info(res.Lab.Number)
	if err != nil {
		return
	}
	a.announceRun(ctx, li, lr.opts.Endpoints.AMQP.URL, res, a.stderr)
}

// announceRun is announce for a lab li (as it is after the run was recorded), on the broker at amqpURL; the
// warning goes to warn (the TUI shows it as a flash, not on a terminal it draws).
func (a *app) announceRun(ctx context.Context, li kit.LabInfo, amqpURL string, res *kit.RunResult, warn io.Writer) {
	step := res.Current
	if step == 0 {
		step = len(res.Lab.Steps)
	}
	r := room.Run{Lab: res.Lab.Slug, Step: step, Result: roomResult(res.Outcome()), Marker: firstMarker(res),
		Hints: li.HintsShown, Started: li.StartedAt}
	_ = room.Announce(ctx, a.getenv, amqpURL, r, a.now(), warn)
}

func roomResult(o kit.Outcome) string {
	switch o {
	case kit.Passed:
		return room.ResultPass
	case kit.InfraDown:
		return room.ResultInfra
	case kit.NotCounted:
		return room.ResultNotCounted
	}
	return room.ResultFail
}

// firstMarker is the marker of the first failure the attendee sees: in the step they are on, else the chaos stage.
func firstMarker(res *kit.RunResult) string {
	for _, s := range res.Steps {
		if s.Number != res.Current {
			continue
		}
		for _, t := range s.Failed() {
			if t.Marker != "" {
				return t.Marker
			}
		}
	}
	if res.Chaos != nil && res.Chaos.Report != nil {
		for _, t := range res.Chaos.Report.Failed() {
			if t.Marker != "" {
				return t.Marker
			}
		}
	}
	return ""
}
