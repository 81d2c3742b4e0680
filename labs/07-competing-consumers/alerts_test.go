// Do not edit: this test shows the failure.

package competing

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"msglabs/shared/harness"
	"msglabs/shared/story"
)

// Step 4: alerts. Each test plays an hour in Prometheus' rule tester (`promtool test rules`), one sample a minute, with
// the series Billing's own metrics (metrics.go) expose, and asks whether the alerts in AlertRules (alerts.go) fire.

const (
	// promtoolLimit bounds one promtool run.
	promtoolLimit = 20 * time.Second
	// lagAlert and fullAlert are the alerts the on-call rota is built on (see alerts.go).
	lagAlert  = "BillingConsumerLag"
	fullAlert = "BillingQueueFull"
	// anyAlert stands for every alert in AlertRules.
	anyAlert = ""
)

// Billing stops at 0:00 while orders keep coming, two a minute, until its queue is full and Sales is held back. The
// oldest order's wait grows a minute every minute. By 0:10 customers have waited twice as long as the shop promises:
// someone must have been paged.
func TestAlertPagesWhenBillingStops(t *testing.T) {
	rules := newAlertLab(t)
	rules.judge(alertScenario{
		series: map[string]string{
			depthMetric: "0+2x10 20x20", ageMetric: "0+60x30",
			processedMetric: "4200x30", failedMetric: "17x30",
		},
		checks: []alertCheck{
			{alert: lagAlert, at: 10 * time.Minute, firing: true,
				says: "Billing stopped and its backlog grew for 10 minutes, the oldest order waiting 10 minutes (the shop promises 5), and " + lagAlert + " had not fired: nobody was paged"},
			{alert: fullAlert, at: 20 * time.Minute, firing: true,
				says: "Billing's queue had been full for 10 minutes (Sales held back since 0:10), and " + fullAlert + " had not fired"},
		},
	})
}

// Billing is up but slow: its queue sits at its bound for twenty minutes, Sales is held back, orders still flow at
// Billing's pace and each waits about two minutes. That is worth a ticket (the queue is full), not a page (customers
// are charged within the promised five minutes).
func TestAlertWhenTheQueueStaysFull(t *testing.T) {
	rules := newAlertLab(t)
	rules.judge(alertScenario{
		series: map[string]string{
			depthMetric: "20x20", ageMetric: "120x20",
			processedMetric: "4200+10x20", failedMetric: "17x20",
		},
		checks: []alertCheck{
			{alert: fullAlert, at: 10 * time.Minute, firing: true,
				says: "Billing's queue sat at its bound (20) for 10 minutes, holding Sales back, and " + fullAlert + " had not fired"},
			{alert: lagAlert, at: 10 * time.Minute,
				says: lagAlert + " paged while every order was charged within about two minutes (the shop promises five)"},
			{alert: lagAlert, at: 20 * time.Minute,
				says: lagAlert + " paged while every order was charged within about two minutes (the shop promises five)"},
		},
	})
}

// Three hours in which no customer waits: a quiet night (nobody orders, nothing waits), a busy hour (the queue fills
// to its bound for a minute at a time and drains, no order waits more than 30 seconds) and an order replayed from
// last night's error queue (lab 9) that sits at the head of the queue for one scrape with its original stamp, ten
// hours old, and is billed within seconds. Nobody may be paged. (This passes in the starter; it fails for an alert
// that fires on an idle Billing, on a queue that is full for a moment, or on one odd scrape.)
func TestAlertsStayQuietWhenCustomersDoNotWait(t *testing.T) {
	rules := newAlertLab(t)
	quiet := func(at time.Duration, night string) alertCheck {
		return alertCheck{alert: anyAlert, at: at, says: "an alert fired " + night}
	}
	night := "on a quiet night: nothing waited and nobody ordered, and the on-call engineer was woken for nothing"
	busy := "during a busy hour in which the queue filled up for a minute at a time and no order waited more than 30 seconds"
	replay := "for one odd scrape: an order replayed from last night's error queue showed its original stamp, ten hours " +
		"old, and was billed within seconds"
	// One run of the rule tester for the three hours: each check asks about a moment of its own.
	rules.judge(alertScenario{
		series: map[string]string{
			depthMetric: "0x60", ageMetric: "0x60", processedMetric: "4200x60", failedMetric: "17x60",
		},
		checks: []alertCheck{quiet(30*time.Minute, night), quiet(60*time.Minute, night)},
	}, alertScenario{
		series: map[string]string{
			depthMetric:     strings.Repeat("4 9 15 20 20 12 6 2 0 3 ", 6),
			ageMetric:       strings.Repeat("1 4 12 30 28 15 6 2 0 1 ", 6),
			processedMetric: "0+600x60", failedMetric: "0+3x60",
		},
		checks: []alertCheck{quiet(15*time.Minute, busy), quiet(35*time.Minute, busy), quiet(55*time.Minute, busy)},
	}, alertScenario{
		series: map[string]string{
			depthMetric: "0x9 1 0x10", ageMetric: "0x9 36000 0x10", processedMetric: "900+1x20", failedMetric: "0x20",
		},
		checks: []alertCheck{quiet(10*time.Minute, replay), quiet(11*time.Minute, replay), quiet(13*time.Minute, replay)},
	})
}

const (
	processedMetric = "billing_messages_processed_total"
	failedMetric    = "billing_messages_failed_total"
)

// alertScenario is an hour in Prometheus' rule tester: each metric's samples, one a minute from 0:00, in promtool's
// notation ("0+2x10 20x20": 0, 2, …, 20, then 20 twenty more times), and what must (not) be firing when.
type alertScenario struct {
	series map[string]string
	checks []alertCheck
}

// alertCheck is one question about the alerts at one moment.
type alertCheck struct {
	alert  string        // the alert's name, or anyAlert
	at     time.Duration // since 0:00
	firing bool          // whether it must be firing (false: it must not)
	says   string        // the headline when the answer is wrong
}

// expr is the PromQL the rule tester evaluates for c: 1 when the alert is firing, else 0.
func (c alertCheck) expr() string {
	match := `alertstate="firing"`
	if c.alert != anyAlert {
		match = fmt.Sprintf(`alertname=%q,%s`, c.alert, match)
	}
	return fmt.Sprintf("(count(ALERTS{%s}) > bool 0) or vector(0)", match)
}

// alertLab runs AlertRules through promtool.
type alertLab struct {
	env    *harness.Env
	dir    string
	labels map[string]string // metric → its label set as Billing's metrics expose it ("" for none)
}

// newAlertLab writes AlertRules where promtool reads them and learns the series Billing's metrics expose.
func newAlertLab(t *testing.T) *alertLab {
	env := harness.New(t)
	if _, err := exec.LookPath("promtool"); err != nil {
		env.Fail(story.Infra, "promtool (Prometheus' rule tester) is not installed: %v; install it with `apt-get install "+
			"prometheus` (Debian, Ubuntu) or `brew install prometheus` (macOS), then run the lab again", err)
	}
	a := &alertLab{env: env, dir: t.TempDir(), labels: exposedLabels(env)}
	if err := os.WriteFile(filepath.Join(a.dir, "alerts.yml"), []byte(AlertRules), 0o644); err != nil {
		t.Fatal(err)
	}
	return a
}

// exposedLabels collects Billing's metrics once, on a queue of its own, and returns each series' label set in
// PromQL form. A metric Billing does not expose (yet) keeps the name the shop's dashboards use, without labels.
func exposedLabels(env *harness.Env) map[string]string {
	env.T.Helper()
	labels := map[string]string{}
	queue := env.Name("billing")
	declare(env, env.Process("monitor").MustDial(), queue)
	reg := prometheus.NewRegistry()
	if _, err := NewMetrics(reg, env.Process("monitor").MustDial(), queue); err != nil {
		env.T.Fatalf("NewMetrics: %v", err)
	}
	families, _ := reg.Gather() // a metric that fails to collect is simply not there
	for _, f := range families {
		if len(f.GetMetric()) == 0 {
			continue
		}
		var pairs []string
		for _, l := range f.GetMetric()[0].GetLabel() {
			pairs = append(pairs, fmt.Sprintf("%s=%s", l.GetName(), strconv.Quote(l.GetValue())))
		}
		if len(pairs) > 0 {
			labels[f.GetName()] = "{" + strings.Join(pairs, ",") + "}"
		}
	}
	return labels
}

// judge runs the scenarios through promtool, in one run (no two checks may ask about the same alert at the same
// moment), and fails the test with the first check whose answer is wrong: STALLED for an alert that did not fire,
// GHOST for one that fired when no customer waited.
func (a *alertLab) judge(scenarios ...alertScenario) {
	a.env.T.Helper()
	out, err := a.promtool(scenarios)
	if err == nil {
		return
	}
	failed, loaded := failedChecks(out)
	if !loaded {
		a.env.FailWith(story.Stalled, outputLines(out), "promtool could not load AlertRules (alerts.go), so no alert can "+
			"ever fire: %v", err)
	}
	for _, s := range scenarios {
		for _, c := range s.checks {
			if !failed[checkKey(c.alert, c.at)] {
				continue
			}
			marker := story.Ghost
			if c.firing {
				marker = story.Stalled
			}
			a.env.FailWith(marker, outputLines(out), "%s (at %s of the rule tester's clock)", c.says, clock(c.at))
		}
	}
	a.env.FailWith(story.Stalled, outputLines(out), "promtool test rules failed: %v", err)
}

// promtool writes the scenarios' test file and runs `promtool test rules` on it.
func (a *alertLab) promtool(scenarios []alertScenario) (string, error) {
	var b strings.Builder
	b.WriteString("rule_files: [alerts.yml]\nevaluation_interval: 1m\ntests:\n")
	for _, s := range scenarios {
		a.writeScenario(&b, s)
	}
	file := filepath.Join(a.dir, "alerts_test.yml")
	if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
		a.env.T.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(a.env.Context(), promtoolLimit)
	defer cancel()
	cmd := exec.CommandContext(ctx, "promtool", "test", "rules", "alerts_test.yml")
	cmd.Dir = a.dir
	out, err := cmd.CombinedOutput()
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		a.env.Fail(story.Infra, "promtool test rules did not finish within %v on this machine; check that promtool runs "+
			"(`promtool --version`) and run the lab again", promtoolLimit)
	}
	return string(out), err
}

// writeScenario writes one scenario as a test group of promtool's test file.
func (a *alertLab) writeScenario(b *strings.Builder, s alertScenario) {
	b.WriteString("  - interval: 1m\n    input_series:\n")
	names := make([]string, 0, len(s.series))
	for name := range s.series {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(b, "      - series: %s\n        values: %s\n", strconv.Quote(name+a.labels[name]),
			strconv.Quote(strings.TrimSpace(s.series[name])))
	}
	b.WriteString("    promql_expr_test:\n")
	for _, c := range s.checks {
		want := 0
		if c.firing {
			want = 1
		}
		fmt.Fprintf(b, "      - expr: %s\n        eval_time: %s\n        exp_samples:\n          - labels: '{}'\n            value: %d\n",
			strconv.Quote(c.expr()), promDuration(c.at), want)
	}
}

var (
	failedExpr = regexp.MustCompile(`expr: "((?:[^"\\]|\\.)*)", time: ([0-9hms]+)`)
	alertName  = regexp.MustCompile(`alertname=\\"(\w+)\\"`)
)

// failedChecks reads promtool's output: the checks that came out wrong, by checkKey, and whether the rules loaded at
// all (promtool evaluated expressions).
func failedChecks(out string) (map[string]bool, bool) {
	failed := map[string]bool{}
	for _, m := range failedExpr.FindAllStringSubmatch(out, -1) {
		at, err := time.ParseDuration(m[2])
		if err != nil {
			continue
		}
		name := anyAlert
		if n := alertName.FindStringSubmatch(m[1]); n != nil {
			name = n[1]
		}
		failed[checkKey(name, at)] = true
	}
	return failed, len(failed) > 0
}

func checkKey(alert string, at time.Duration) string { return alert + "@" + at.String() }

// promDuration writes d as promtool reads it: "10m".
func promDuration(d time.Duration) string { return fmt.Sprintf("%dm", int(d.Minutes())) }

// clock writes d since 0:00 as "0:10".
func clock(d time.Duration) string {
	return fmt.Sprintf("%d:%02d", int(d.Hours()), int(d.Minutes())%60)
}

// outputLines is promtool's output as detail lines, without blank ones.
func outputLines(out string) []string {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if strings.TrimSpace(l) != "" {
			lines = append(lines, "promtool: "+strings.TrimSpace(l))
		}
	}
	return lines
}
