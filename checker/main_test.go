package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"msglabs/checker/doctor"
	"msglabs/checker/kittest"
	"msglabs/checker/lab"
	"msglabs/checker/seal"
	"msglabs/shared/infra"
)

type testApp struct {
	*app
	out, errOut *bytes.Buffer
	env         map[string]string
}

// newTestApp is an app rooted in the kit at root, with services that "resolve" without a network.
func newTestApp(t *testing.T, root string) *testApp {
	t.Helper()
	var out, errOut bytes.Buffer
	ta := &testApp{out: &out, errOut: &errOut, env: map[string]string{}}
	a := newApp(&out, &errOut)
	a.dir = root
	a.getenv = func(k string) string { return ta.env[k] }
	a.resolve = func(context.Context) (infra.Endpoints, error) {
		return infra.Endpoints{
			AMQP:     infra.Endpoint{URL: "amqp://guest:hunter2@127.0.0.1:5672/"},
			Database: infra.Endpoint{URL: "postgres://postgres@127.0.0.1:5432/postgres"},
		}, nil
	}
	a.startContainers = func(context.Context) (infra.Endpoints, error) { return infra.Endpoints{}, errors.New("no Docker here") }
	a.executable = func() (string, error) { return "/usr/local/bin/checker", nil }
	a.isTerminal = func() bool { return false }
	up := func(context.Context, string) (string, error) { return "up", nil }
	a.probes = doctor.Probes{Getenv: ta.getenvOf, RabbitMQ: up, Postgres: up,
		GoVersion: func(context.Context) (string, error) { return "go1.26", nil }, Docker: func(context.Context) bool { return false }}
	ta.app = a
	return ta
}

func (ta *testApp) getenvOf(k string) string { return ta.env[k] }

func (ta *testApp) run(args ...string) int {
	ta.out.Reset()
	ta.errOut.Reset()
	ta.instructor = false
	return ta.main(args)
}

func (ta *testApp) expect(t *testing.T, want int, args ...string) string {
	t.Helper()
	if got := ta.run(args...); got != want {
		t.Fatalf("checker %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), got, want, ta.out, ta.errOut)
	}
	return ta.out.String()
}

func sealedKit(t *testing.T) string {
	t.Helper()
	root := kittest.New(t)
	sealKit(t, root)
	return root
}

func TestUsageErrors(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"frobnicate"}, &out, &errOut); code != exitEnv || !strings.Contains(errOut.String(), "unknown command") {
		t.Fatalf("unknown command: exit %d, stderr %q", code, errOut.String())
	}
	if code := run([]string{"help"}, &out, &errOut); code != exitOK || !strings.Contains(out.String(), "usage: checker") {
		t.Fatalf("help: exit %d", code)
	}
	ta := newTestApp(t, kittest.New(t))
	for _, args := range [][]string{{"run"}, {"run", "x"}, {"run", "1", "2"}, {"run", "--bogus", "1"}, {"hint"}, {"run", "3"}, {"run", "9"},
		{"solution", "1", "--diff", "--apply"}, {"verify", "--count", "0"}, {"verify", "7"}, {"list", "extra"}} {
		ta.expect(t, exitEnv, args...)
	}
	ta = newTestApp(t, t.TempDir())
	ta.expect(t, exitEnv, "list")
	if !strings.Contains(ta.errOut.String(), "not inside the msglabs kit") {
		t.Fatalf("stderr = %q", ta.errOut)
	}
}

func TestMaintainerCommandsAreNotInTheAttendeesUsage(t *testing.T) {
	ta := newTestApp(t, kittest.New(t))
	for _, args := range [][]string{{"help"}, {}} {
		out := ta.expect(t, exitOK, args...)
		for _, word := range []string{"seal", "verify", "bench", " dev "} {
			if strings.Contains(out, word) {
				t.Errorf("checker %s shows the maintainer command %q:\n%s", strings.Join(args, " "), word, out)
			}
		}
	}
	out := ta.expect(t, exitOK, "help", "dev")
	for _, word := range []string{"seal [--check]", "verify [N...]", "bench"} {
		if !strings.Contains(out, word) {
			t.Errorf("checker help dev lacks %q:\n%s", word, out)
		}
	}
}

func TestBareCheckerListsAndShowsCommands(t *testing.T) {
	ta := newTestApp(t, kittest.New(t))
	out := ta.expect(t, exitOK)
	if !strings.Contains(out, "First lab") || !strings.Contains(out, "commands:") || strings.Contains(out, "Not written yet") {
		t.Fatalf("output:\n%s", out)
	}
}

func TestList(t *testing.T) {
	ta := newTestApp(t, kittest.New(t))
	out := ta.expect(t, exitOK, "list", "--json")
	var doc struct {
		Labs []struct {
			Number           int
			Status           string
			Unlocked         bool
			SolutionUnlocked bool `json:"solution_unlocked"`
		}
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Labs) != 2 || doc.Labs[0].Status != "todo" || doc.Labs[1].Status != "locked" || doc.Labs[0].SolutionUnlocked {
		t.Fatalf("labs = %+v", doc.Labs)
	}
	out = ta.expect(t, exitOK, "--instructor", "list")
	if strings.Contains(out, "locked ") || !strings.Contains(out, "instructor mode") {
		t.Fatalf("instructor list:\n%s", out)
	}
	ta.env["MSGLABS_INSTRUCTOR"] = "1"
	if out := ta.expect(t, exitOK, "list"); !strings.Contains(out, "instructor mode") {
		t.Fatalf("MSGLABS_INSTRUCTOR=1 list:\n%s", out)
	}
}

func TestCorruptProgressIsReportedNotFatal(t *testing.T) {
	root := kittest.New(t)
	kittest.Write(t, root, map[string]string{".msglabs/progress.json": "{not json"})
	ta := newTestApp(t, root)
	ta.expect(t, exitOK, "list")
	if !strings.Contains(ta.errOut.String(), "corrupt") {
		t.Fatalf("stderr = %q", ta.errOut)
	}
	ta.expect(t, exitOK, "hint", "1") // saving rebuilds the file
	ta.expect(t, exitOK, "list")
	if ta.errOut.Len() != 0 {
		t.Fatalf("still warns: %q", ta.errOut)
	}
}

func TestRunWithServicesDown(t *testing.T) {
	ta := newTestApp(t, kittest.New(t))
	ta.resolve = func(context.Context) (infra.Endpoints, error) {
		return infra.Endpoints{}, errors.Join(
			fmt.Errorf("%w: RabbitMQ is not reachable at amqp://ann:***@10.0.0.9:5672/ (from MSGLABS_AMQP_URL): connection refused; fix: start it, or correct MSGLABS_AMQP_URL", infra.ErrUnreachable),
			fmt.Errorf("%w: PostgreSQL is not reachable at postgres://postgres@127.0.0.1:5432/postgres (connection refused) and no Docker engine answers; fix: run `make up`, or set MSGLABS_DATABASE_URL", infra.ErrUnreachable))
	}
	for _, cmd := range [][]string{{"run", "1"}, {"verify"}} {
		ta.expect(t, exitEnv, cmd...)
		lines := strings.Split(strings.TrimSpace(ta.errOut.String()), "\n")
		want := "RabbitMQ is not reachable"
		if cmd[0] == "run" {
			want = "INFRA: " + want // a run's problem with the services is INFRA, spelled as story spells it
		}
		if len(lines) != 1 || !strings.HasPrefix(lines[0], want) || !strings.Contains(lines[0], "make up") {
			t.Fatalf("%v: stderr = %q, want one line", cmd, ta.errOut)
		}
	}
}

func TestRunLab(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go test")
	}
	root := sealedKit(t)
	ta := newTestApp(t, root)
	out := ta.expect(t, exitFailing, "run", "1")
	for _, want := range []string{"lab 1 · First lab", "✓ TestFine", "✗ TestLost", "step 1 of 1: the order arrives",
		"LOST: order o-17 went wrong (1 placed, 0 billed)", "timeline:", "+0.001s  orders  publish o-17",
		"✗ lab 1: step 1 of 1 failing · 1 passed, 1 failed", "stuck? `bin/checker hint 1`"} {
		if !strings.Contains(out, want) {
			t.Fatalf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "first_test.go:") {
		t.Fatalf("output keeps the file:line prefix:\n%s", out)
	}

	kittest.Write(t, root, map[string]string{"labs/01-first/work.go": kittest.Solved("first")})
	out = ta.expect(t, exitOK, "run", "1")
	if !strings.Contains(out, "✓ lab 1 passed") || !strings.Contains(out, "unlocked: lab 2, solution 1") {
		t.Fatalf("output:\n%s", out)
	}

	// Lab 2 is unlocked now; a compile error is a failing lab, explained without a stack.
	kittest.Write(t, root, map[string]string{"labs/02-second/work.go": "package second\n\nfunc Fixed() bool { return 1 }\n"})
	out = ta.expect(t, exitFailing, "run", "2")
	if !strings.Contains(out, "does not compile") || !strings.Contains(out, "labs/02-second/work.go:3:") || strings.Contains(out, "still locked") {
		t.Fatalf("output:\n%s", out)
	}

	// A panic names the line in the lab.
	kittest.Write(t, root, map[string]string{"labs/02-second/work.go": "package second\n\nfunc Fixed() bool {\n\tvar m map[string]bool\n\tm[\"x\"] = true\n\treturn true\n}\n"})
	out = ta.expect(t, exitFailing, "run", "2", "--json")
	var doc struct {
		Result string
		Report struct{ Panic struct{ Message, At string } }
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if doc.Result != "panic" || doc.Report.Panic.At != "labs/02-second/work.go:5" {
		t.Fatalf("json = %+v", doc)
	}
	if strings.Contains(out, "hunter2") {
		t.Fatal("the broker password leaked into the output")
	}
}

func TestHintsAndSolutions(t *testing.T) {
	root := sealedKit(t)
	kittest.Commit(t, root)
	ta := newTestApp(t, root)
	if out := ta.expect(t, exitOK, "hint", "1"); !strings.Contains(out, "lab 1, step 1 of 1 (the order arrives), hint 1/2: Look at Fixed.") ||
		!strings.Contains(out, "`bin/checker hint 1` again") {
		t.Fatalf("hint: %s", out)
	}
	if out := ta.expect(t, exitOK, "hint", "1"); !strings.Contains(out, "hint 2/2") || !strings.Contains(out, "last hint") {
		t.Fatalf("hint: %s", out)
	}
	if out := ta.expect(t, exitOK, "hint", "2", "--all"); !strings.Contains(out, "step 1 of 1, hint 1/1: Count once.") {
		t.Fatalf("hint --all: %s", out)
	}
	ta.expect(t, exitEnv, "solution", "1")
	if !strings.Contains(ta.errOut.String(), "solution 1 is locked: pass lab 1 first") {
		t.Fatalf("stderr = %q", ta.errOut)
	}
	out := ta.expect(t, exitOK, "solution", "1", "--instructor")
	if !strings.Contains(out, "==> solutions/01-first/work.go <==\npackage first") || strings.Contains(out, "go:build") {
		t.Fatalf("solution:\n%s", out)
	}
	out = ta.expect(t, exitOK, "--instructor", "solution", "--diff", "1")
	if !strings.Contains(out, "+++ b/solutions/01-first/work.go") || !strings.Contains(out, "+\treturn true") {
		t.Fatalf("diff:\n%s", out)
	}
	ta.expect(t, exitOK, "--instructor", "solution", "1", "--apply")
	if kittest.Read(t, root, "labs/01-first/work.go") != kittest.Solved("first") {
		t.Fatal("--apply did not write the solution")
	}
	if out := ta.expect(t, exitOK, "--instructor", "solution", "1", "--diff"); !strings.Contains(out, "identical") {
		t.Fatalf("diff after apply: %s", out)
	}
	if out := ta.expect(t, exitOK, "reset", "1"); !strings.Contains(out, "backed up your files to .msglabs/backup/") {
		t.Fatalf("reset: %s", out)
	}
	if kittest.Read(t, root, "labs/01-first/work.go") != kittest.Starter("first") {
		t.Fatal("reset did not restore the starter")
	}
	if out := ta.expect(t, exitOK, "reset", "1"); !strings.Contains(out, "nothing to reset") {
		t.Fatalf("second reset: %s", out)
	}
}

func TestSeal(t *testing.T) {
	root := kittest.New(t)
	kittest.Commit(t, root)
	ta := newTestApp(t, root)
	if out := ta.expect(t, exitFailing, "seal", "--check"); !strings.Contains(out, "labs/01-first/first_test.go: test file is not sealed") {
		t.Fatalf("check:\n%s", out)
	}
	ta.expect(t, exitOK, "seal")
	ta.expect(t, exitOK, "seal", "--check")
	kittest.Write(t, root, map[string]string{"labs/01-first/work.go": kittest.Solved("first")})
	ta.expect(t, exitOK, "seal", "--check") // the sealed starter is still in git
	ta.env["CI"] = "true"
	ta.expect(t, exitFailing, "seal", "--check")
	delete(ta.env, "CI")

	// A lab in the making (folder, no test yet) is skipped with a warning, and fails the checks meant for CI.
	kittest.Write(t, root, map[string]string{"labs/03-later/later.go": "package later\n"})
	ta.expect(t, exitOK, "list")
	if !strings.Contains(ta.errOut.String(), "labs/03-later/lab.yaml is missing") {
		t.Fatalf("stderr = %q", ta.errOut)
	}
	if out := ta.expect(t, exitFailing, "seal", "--check"); !strings.Contains(out, "03-later") {
		t.Fatalf("seal --check:\n%s", out)
	}
	if out := ta.expect(t, exitFailing, "verify", "3"); !strings.Contains(out, "✗ labs/03-later/lab.yaml is missing") {
		t.Fatalf("verify 3:\n%s", out)
	}
	ta.expect(t, exitEnv, "run", "3")
}

func TestDoctor(t *testing.T) {
	ta := newTestApp(t, t.TempDir())
	ok := func(context.Context, string) (string, error) { return "v1", nil }
	ta.probes = doctor.Probes{
		Getenv:    ta.getenv,
		GoVersion: func(context.Context) (string, error) { return "go1.26.8", nil },
		RabbitMQ:  ok, Postgres: ok,
		Docker: func(context.Context) bool { return false },
	}
	if out := ta.expect(t, exitOK, "doctor"); !strings.Contains(out, "✓ RabbitMQ") || !strings.Contains(out, "! Docker") {
		t.Fatalf("doctor:\n%s", out)
	}
	ta.env[infra.EnvAMQP] = "amqp://ann:s3cret@10.0.0.9:5672/"
	ta.probes.RabbitMQ = func(_ context.Context, url string) (string, error) {
		return "", errors.New("dial " + url + ": refused")
	}
	out := ta.expect(t, exitEnv, "doctor")
	if !strings.Contains(out, "✗ RabbitMQ") || !strings.Contains(out, "fix: start it, or correct MSGLABS_AMQP_URL") || strings.Contains(out, "s3cret") {
		t.Fatalf("doctor:\n%s", out)
	}
}

func TestVerify(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go test")
	}
	root := sealedKit(t)
	kittest.Commit(t, root)
	ta := newTestApp(t, root)
	out := ta.expect(t, exitOK, "verify", "1")
	if !strings.Contains(out, "✓ 01-first  starter fails as expected (TestLost: LOST) · solution passes ×1 (-race)") {
		t.Fatalf("verify:\n%s", out)
	}
	kittest.Write(t, root, map[string]string{"solutions/02-second/work.go": "//go:build solution\n\n" + kittest.Starter("second")})
	out = ta.expect(t, exitFailing, "verify", "--json", "--count", "2")
	var doc struct {
		Verified bool
		Labs     []struct {
			Number   int
			Slug     string
			Verified bool
			Starter  struct {
				Passed      bool
				FailedTests []string `json:"failed_tests"`
				Markers     map[string]string
			}
			Solution struct{ Passed bool }
			Seconds  float64
			Reason   string
		}
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if doc.Verified || len(doc.Labs) != 2 || !doc.Labs[0].Verified || doc.Labs[1].Verified ||
		doc.Labs[1].Starter.Markers["TestTwice"] != "DUPLICATE" || doc.Labs[1].Solution.Passed || doc.Labs[1].Reason == "" {
		t.Fatalf("json:\n%s", out)
	}
}

func TestContainers(t *testing.T) {
	ta := newTestApp(t, t.TempDir())
	ta.expect(t, exitEnv, "containers")
	ta.startContainers = func(context.Context) (infra.Endpoints, error) {
		return infra.Endpoints{AMQP: infra.Endpoint{URL: "amqp://guest:guest@127.0.0.1:32771/"},
			Database: infra.Endpoint{URL: "postgres://postgres@127.0.0.1:32772/postgres?sslmode=disable"}}, nil
	}
	out := ta.expect(t, exitOK, "containers")
	eps, err := infra.ParseEnvLines([]byte(out))
	if err != nil || eps.AMQP.URL != "amqp://guest:guest@127.0.0.1:32771/" {
		t.Fatalf("output %q: %+v, %v", out, eps, err)
	}
}

func TestRedactWriter(t *testing.T) {
	var buf bytes.Buffer
	r := &redactor{}
	r.add("amqp://ann:p@ss@host:5672/", "postgres://bob:t0p%2Fsecret@db/x", "amqp://guest:ab#cd@host:5672/", "not a url", "")
	w := &redactWriter{w: &buf, r: r}
	fmt.Fprintln(w, "dial amqp://ann:p@ss@host:5672/ and postgres://bob:t0p%2Fsecret@db/x")
	fmt.Fprintln(w, `parse "amqp://guest:ab#cd@host:5672/": invalid port ":ab" after host`)
	fmt.Fprintln(w, `parse url "amqp://guest:***@host:5672/": parse "amqp://guest:ab": invalid port ":ab" after host`)
	fmt.Fprintln(w, "as the error echoes it: guest:ab#cd@host")
	if got := buf.String(); strings.Contains(got, "p@ss") || strings.Contains(got, "t0p") || strings.Contains(got, "ab#cd") ||
		strings.Contains(got, ":ab") {
		t.Fatalf("a password leaked:\n%s", got)
	}
	if got := buf.String(); !strings.Contains(got, "amqp://guest:***@host:5672/") || !strings.Contains(got, "guest:***@host") {
		t.Fatalf("the masked credentials lost their shape:\n%s", got)
	}
}

func TestRedactMasksCredentialsItWasNotTold(t *testing.T) {
	r := &redactor{}
	cases := map[string]string{
		"guest:ab#cd@host":                          "guest:***@host",
		"dial amqp://u:s3cr/et@10.0.0.9:5672/ room": "dial amqp://u:***@10.0.0.9:5672/ room",
		`url "postgres://pg:x%20y@db/x"`:            `url "postgres://pg:***@db/x"`,
		"amqp://guest:***@host/ stays as it is":     "amqp://guest:***@host/ stays as it is",
		"no secrets: main.go:12: ann@example.com":   "no secrets: main.go:12: ann@example.com",
		"amqp://guest@host:5672/ has no password":   "amqp://guest@host:5672/ has no password",
	}
	for in, want := range cases {
		if got := r.apply(in); got != want {
			t.Errorf("apply(%q) = %q, want %q", in, got, want)
		}
	}
}

// sealKit writes labs/labs.sum for the kit at root as its files are now, as `checker seal` does.
func sealKit(t testing.TB, root string) {
	t.Helper()
	c, err := lab.Load(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Problems()) > 0 {
		t.Fatalf("sample kit has problems: %v", c.Problems())
	}
	if _, err := seal.Write(c); err != nil {
		t.Fatal(err)
	}
}
