package gotest

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// convert runs binary output through the converter and the parser, in chunks of size n.
func convert(t *testing.T, out string, n int) (*Report, bool) {
	t.Helper()
	p := newParser(ParseOptions{LabDir: "labs/05-x"}, nil)
	c := newConverter(p.handle)
	for len(out) > 0 {
		k := min(n, len(out))
		c.Write([]byte(out[:k]))
		out = out[k:]
	}
	final := c.Close()
	p.finish()
	return p.rep, final
}

const v = "\x16" // test2json's framing marker

func TestConverterVerdictAfterOutputWithoutNewline(t *testing.T) {
	long := strings.Repeat("y", 10*1024)
	out := v + "=== RUN   TestA\n" + long + v + "--- PASS: TestA (0.01s)\n" +
		v + "=== RUN   TestB\n    b_test.go:9: LOST: o-1 was never stored\n" + v + "--- FAIL: TestB (0.20s)\n" + v + "FAIL\n"
	for _, chunk := range []int{1, 7, 4096, len(out)} {
		rep, final := convert(t, out, chunk)
		if !final || rep.Kind() != Failed || !rep.PackageFail {
			t.Fatalf("chunk %d: final = %v, kind = %s", chunk, final, rep.Kind())
		}
		a, _ := rep.Test("TestA")
		if a.Status != Pass || a.Elapsed != 10*time.Millisecond || len(a.Output) != 1 || a.Output[0] != long {
			t.Fatalf("chunk %d: TestA = %s %s, output %d lines", chunk, a.Status, a.Elapsed, len(a.Output))
		}
		if b, _ := rep.Test("TestB"); b.Status != Fail || b.Marker != "LOST" {
			t.Fatalf("chunk %d: TestB = %+v", chunk, b)
		}
	}
}

func TestConverterBinaryDiedAfterFailLine(t *testing.T) {
	// A test panics after its --- FAIL line; the binary dies without the final FAIL.
	out := v + "=== RUN   TestP\n" + v + "--- FAIL: TestP (0.00s)\npanic: boom [recovered, repanicked]\n\ngoroutine 7 [running]:\n" +
		"msglabs/labs/05-x.Handle(...)\n\t/home/ann/kit/labs/05-x/billing.go:42 +0x1d\n"
	rep, final := convert(t, out, len(out))
	if final {
		t.Fatal("a binary that died has no final line")
	}
	want := Panic{Message: "boom", At: "labs/05-x/billing.go:42", Test: "TestP"}
	if rep.Kind() != Panicked || *rep.Panic != want {
		t.Fatalf("kind = %s, panic = %+v", rep.Kind(), rep.Panic)
	}
}

func TestConverterSubtestsAndOutputAttribution(t *testing.T) {
	// As -test.v=test2json prints it (Go 1.26): subtest results are not indented, === NAME says whose output follows.
	out := v + "=== RUN   TestS\n" + v + "=== RUN   TestS/one\n    s_test.go:3: hello\n" +
		v + "--- PASS: TestS/one (0.00s)\n" + v + "=== NAME  TestS\n    s_test.go:5: parent\n" +
		v + "--- PASS: TestS (0.00s)\n" + v + "=== NAME  \n" + v + "PASS\n"
	rep, final := convert(t, out, 3)
	if !final || rep.Kind() != Passed {
		t.Fatalf("final = %v, kind = %s", final, rep.Kind())
	}
	var names []string
	for _, r := range rep.Tests {
		names = append(names, r.Name+":"+string(r.Status))
	}
	if want := []string{"TestS/one:pass", "TestS:pass"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("tests = %v, want %v", names, want)
	}
	if one, _ := rep.Test("TestS/one"); !reflect.DeepEqual(one.Output, []string{"    s_test.go:3: hello"}) {
		t.Fatalf("TestS/one output = %q", one.Output)
	}
	if s, _ := rep.Test("TestS"); !reflect.DeepEqual(s.Output, []string{"    s_test.go:5: parent"}) {
		t.Fatalf("TestS output = %q", s.Output)
	}
}

func TestWatchdogPicksTheTestWithoutProgress(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	w := newWatchdog(12*time.Second, t0)
	defer w.timer.Stop()
	if test, d := w.next(); test != "" || !d.Equal(at(12*time.Second)) {
		t.Fatalf("before any test: %q %s", test, d)
	}
	w.observe(event{Action: "run", Test: "TestA"}, at(time.Second))
	w.observe(event{Action: "run", Test: "TestA/one"}, at(2*time.Second))
	w.observe(event{Action: "pass", Test: "TestA/one"}, at(5*time.Second))
	w.observe(event{Action: "output", Test: "TestA"}, at(9*time.Second)) // output is not progress
	if test, d := w.next(); test != "TestA" || !d.Equal(at(17*time.Second)) {
		t.Fatalf("parent after its subtest finished: %q %s", test, d)
	}
	w.observe(event{Action: "run", Test: "TestA/two"}, at(6*time.Second))
	if test, d := w.next(); test != "TestA/two" || !d.Equal(at(18*time.Second)) {
		t.Fatalf("running subtest: %q %s, want the deepest of equal deadlines", test, d)
	}
	if _, _, ok := w.fire(at(17 * time.Second)); ok {
		t.Fatal("fired before the deadline")
	}
	test, after, ok := w.fire(at(18 * time.Second))
	if !ok || test != "TestA/two" || after != 12*time.Second || w.C() != nil {
		t.Fatalf("fire = %q %s %v", test, after, ok)
	}
}

func TestWatchdogIgnoresPausedTests(t *testing.T) {
	t0 := time.Unix(1000, 0)
	w := newWatchdog(time.Second, t0)
	defer w.timer.Stop()
	w.observe(event{Action: "run", Test: "TestP"}, t0)
	w.observe(event{Action: "pause", Test: "TestP"}, t0.Add(100*time.Millisecond))
	if test, _ := w.next(); test != "" {
		t.Fatalf("a paused test is watched: %q", test)
	}
	w.observe(event{Action: "cont", Test: "TestP"}, t0.Add(3*time.Second))
	if test, d := w.next(); test != "TestP" || !d.Equal(t0.Add(4*time.Second)) {
		t.Fatalf("continued: %q %s", test, d)
	}
}

const sampleDump = `SIGQUIT: quit
PC=0x47e9a1 m=0 sigcode=0

goroutine 0 gp=0x7f1b30 m=0 mp=0x7f2a40 [idle]:
runtime.futex(0x7f2b80, 0x80, 0x0, 0x0, 0x0, 0x0)
	/usr/local/go/src/runtime/sys_linux_amd64.s:557 +0x21 fp=0x7ffc sp=0x7ffc pc=0x47e9a1

goroutine 1 gp=0xc000002380 m=nil [chan receive]:
testing.(*T).Run(0xc000003a40, {0x6a1d4f?, 0x1?}, 0x6c1c38)
	/usr/local/go/src/testing/testing.go:2005 +0x485

goroutine 21 gp=0xc000102a80 m=nil [select, 2 minutes]:
msglabs/labs/05-x.(*Relay).loop(0xc0001)
	/home/ann/kit/labs/05-x/relay.go:30 +0x99
created by msglabs/labs/05-x.Start in goroutine 20
	/home/ann/kit/labs/05-x/relay.go:12 +0x1d

goroutine 22 gp=0xc000102c40 m=nil [chan receive]:
msglabs/labs/05-x.helperInTest(...)
	/home/ann/kit/labs/05-x/billing_test.go:80
msglabs/labs/05-x.(*Billing).Handle(0xc0002, {0xc0003, 0x3})
	/home/ann/kit/labs/05-x/billing.go:42 +0x1a5
msglabs/labs/05-x.(*Billing).Consume.func1()
	/home/ann/kit/labs/05-x/billing.go:20 +0x2d

goroutine 23 gp=0xc000102e00 m=nil [running]:
	goroutine running on other thread; stack unavailable
`

func feedDump(text string) *Hang {
	d := &dump{labDir: "labs/05-x"}
	for _, l := range strings.Split(text, "\n") {
		d.line(l)
	}
	h := &Hang{}
	d.fill(h)
	return h
}

func TestDumpNamesTheFirstLabFrame(t *testing.T) {
	h := feedDump(sampleDump)
	want := Hang{At: "labs/05-x/relay.go:30", Func: "(*Relay).loop", State: "select",
		Other: []string{"labs/05-x/billing.go:42 in (*Billing).Handle (chan receive)"}}
	if !reflect.DeepEqual(*h, want) {
		t.Fatalf("hang = %+v\nwant   %+v", *h, want)
	}
}

func TestDumpPrefersTheInterruptedRunningGoroutine(t *testing.T) {
	spin := "SIGQUIT: quit\nPC=0x4 m=2 sigcode=0\n\ngoroutine 9 gp=0xc0 m=2 mp=0xc1 [running]:\n" +
		"msglabs/labs/05-x.spin()\n\t/home/ann/kit/labs/05-x/billing.go:7 +0x4 fp=0x1 sp=0x2 pc=0x3\n\n"
	h := feedDump(spin + strings.TrimPrefix(sampleDump, "SIGQUIT: quit\nPC=0x47e9a1 m=0 sigcode=0\n\n"))
	if h.At != "labs/05-x/billing.go:7" || h.Func != "spin" || h.State != "running" || len(h.Other) != 2 {
		t.Fatalf("hang = %+v", *h)
	}
}

func TestDumpWithoutLabFrames(t *testing.T) {
	if h := feedDump("goroutine 1 [chan receive]:\nmain.main()\n\t/x/main.go:3 +0x1\n"); h.At != "" || h.Func != "" {
		t.Fatalf("hang = %+v", *h)
	}
}

func TestShortFunc(t *testing.T) {
	for in, want := range map[string]string{
		"msglabs/labs/05-x.(*Billing).Handle(0xc0001, {0x2})": "(*Billing).Handle",
		"msglabs/labs/05-x.Wait(...)":                         "Wait",
		"msglabs/labs/05-x.(*B).run.func1()":                  "(*B).run.func1",
	} {
		if got := shortFunc(in); got != want {
			t.Errorf("shortFunc(%q) = %q, want %q", in, got, want)
		}
	}
}

// The tests that took longest before start first; tests never timed follow, in the order given.
func TestTheSlowestTestsStartFirst(t *testing.T) {
	tests := []string{"TestA", "TestB", "TestC", "TestD", "TestE"}
	took := map[string]time.Duration{"TestB": 100 * time.Millisecond, "TestD": 2 * time.Second, "TestE": 100 * time.Millisecond}
	got := startOrder(tests, took)
	want := []int{3, 1, 4, 0, 2} // D, then B and E as given, then A and C never timed
	if !slices.Equal(got, want) {
		t.Fatalf("start order %v, want %v", got, want)
	}
	if got := startOrder(tests, nil); !slices.Equal(got, []int{0, 1, 2, 3, 4}) {
		t.Fatalf("with no times: %v, want the order given", got)
	}
}
