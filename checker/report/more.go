package report

import (
	"fmt"
	"strconv"
	"strings"

	"msglabs/checker/kit"
	"msglabs/checker/lab"
	"msglabs/checker/progress"
	"msglabs/shared/infra"
	"msglabs/shared/story"
)

// Services is what a failed look for the services (infra.Resolve's error, one line per service) says, in one line:
// each service and its fix, joined by " · ".
func Services(err error) string {
	var parts []string
	for _, line := range strings.Split(err.Error(), "\n") {
		if line = strings.TrimSpace(strings.TrimPrefix(line, infra.ErrUnreachable.Error()+": ")); line != "" {
			parts = append(parts, line)
		}
	}
	return strings.Join(parts, " · ")
}

// Unreachable is the INFRA line of a run that could not start because the services could not be found.
func Unreachable(err error) Line {
	return Line{Kind: Infra, Text: string(story.Infra) + ": " + Services(err)}
}

// FailingTests names the failed tests of a run in the order the report presents them: the step the attendee is
// on first, then the later steps, then the chaos stage. A front end draws the first one's diagram.
func FailingTests(res *kit.RunResult) []string {
	var out []string
	add := func(name string) {
		for _, n := range out {
			if n == name {
				return
			}
		}
		out = append(out, name)
	}
	for _, s := range res.Steps {
		if s.Number == res.Current {
			for _, t := range s.Failed() {
				add(t.Name)
			}
		}
	}
	for _, s := range res.Steps {
		for _, t := range s.Failed() {
			add(t.Name)
		}
	}
	if res.Report != nil {
		for _, t := range res.Report.Failed() {
			add(t.Name)
		}
	}
	if res.Chaos != nil && res.Chaos.Report != nil {
		for _, t := range res.Chaos.Report.Failed() {
			add(t.Name)
		}
	}
	return out
}

// CatchUp says what kit.CatchUp did: the backup, the solutions written and recorded as caught up, the labs kept,
// where the attendee starts. shared says the progress is also in the mob's committed file.
func CatchUp(res *kit.CatchUpResult, shared bool, o Options) []Line {
	var out []Line
	add := func(format string, args ...any) {
		out = append(out, Line{Kind: Note, Text: fmt.Sprintf(format, args...)})
	}
	if res.Backup != "" {
		add("backed up your files of %s to %s/", labNumbers(res.Applied), res.Backup)
		add("wrote the reference solutions of %s and recorded them as passed (caught up, not solved)", labNumbers(res.Applied))
	}
	for _, l := range res.Kept {
		add("kept lab %d as it is: you passed it yourself", l.Number)
	}
	n := res.Target.Number
	if len(res.Applied) == 0 && len(res.Kept) == 0 {
		add("lab %d is the first lab: there is nothing to catch up", n)
	}
	if shared {
		add("the progress is also in %s: commit it with the code for the mob's next driver", progress.SharedFile)
	}
	out = append(out, Line{Kind: Next, Text: fmt.Sprintf("lab %d is where you start: %s shows its first failure", n, o.cmd("run", n))})
	return out
}

// labNumbers is "lab 1" or "labs 1, 2, 3".
func labNumbers(labs []lab.Lab) string {
	nums := make([]string, len(labs))
	for i, l := range labs {
		nums[i] = strconv.Itoa(l.Number)
	}
	if len(nums) == 1 {
		return "lab " + nums[0]
	}
	return "labs " + strings.Join(nums, ", ")
}
