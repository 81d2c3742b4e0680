package verify

import (
	"fmt"
	"strings"
)

// Line is the one line verify prints for the lab: what each check showed, or every reason it is not verified.
func (r Result) Line() string {
	secs := fmt.Sprintf("%.1fs", r.Seconds)
	switch {
	case r.Infra:
		return fmt.Sprintf("✗ %s  not verified, infrastructure: %s · %s", r.Slug, r.Reason, secs)
	case r.Error != "":
		return fmt.Sprintf("✗ %s  cannot be verified: %s · %s", r.Slug, r.Error, secs)
	case !r.Verified && r.Logs != "":
		return fmt.Sprintf("✗ %s  %s · logs: %s/ · %s", r.Slug, r.Reason, r.Logs, secs)
	case !r.Verified:
		return fmt.Sprintf("✗ %s  %s · %s", r.Slug, r.Reason, secs)
	}
	var fails []string
	for _, t := range r.Starter.FailedTests {
		fails = append(fails, t+": "+r.Starter.Markers[t])
	}
	parts := []string{fmt.Sprintf("starter fails as expected (%s)", strings.Join(fails, ", "))}
	if len(r.Steps) > 0 {
		parts = append(parts, fmt.Sprintf("steps 2–%d fail in turn", len(r.Steps)+1))
	}
	parts = append(parts, fmt.Sprintf("solution passes ×%d (-race)", r.Solution.Count))
	if r.Chaos != nil {
		parts = append(parts, fmt.Sprintf("chaos stage passes (%s)", runs(r.Chaos.Runs)))
	}
	for _, p := range r.Planted {
		parts = append(parts, fmt.Sprintf("step %d's reference test catches planted bug %s (%s)", p.Step, p.Name, p.Caught.Marker))
	}
	switch {
	case r.Headlines == 1:
		parts = append(parts, "README's headline as printed")
	case r.Headlines > 1:
		parts = append(parts, fmt.Sprintf("README's %d headlines as printed", r.Headlines))
	}
	if n := len(r.Mistakes); n > 0 {
		parts = append(parts, fmt.Sprintf("%d of %d mistakes caught", n, n))
	}
	return fmt.Sprintf("✓ %s  %s · %s", r.Slug, strings.Join(parts, " · "), secs)
}

func runs(n int) string {
	switch n {
	case 0:
		return "its default runs"
	case 1:
		return "1 run"
	}
	return fmt.Sprintf("%d runs", n)
}
