package fault

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// lineServer accepts connections and sends every line it receives to lines, tagged with the connection's number.
type lineServer struct {
	addr  string
	lines chan string
	conns chan net.Conn
}

func newLineServer(t *testing.T) *lineServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	s := &lineServer{addr: ln.Addr().String(), lines: make(chan string, 100), conns: make(chan net.Conn, 10)}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.conns <- c
			go func() {
				sc := bufio.NewScanner(c)
				for sc.Scan() {
					s.lines <- sc.Text()
				}
			}()
		}
	}()
	return s
}

// next returns the next line the server received, or "" after a while.
func (s *lineServer) next(wait time.Duration) string {
	select {
	case l := <-s.lines:
		return l
	case <-time.After(wait):
		return ""
	}
}

// lineInspector splits a stream into lines and freezes on the line it is told to.
type lineInspector struct {
	dropAt, freezeAfter string
}

func (i lineInspector) Split(_ Direction, buf []byte) int {
	if n := bytes.IndexByte(buf, '\n'); n >= 0 {
		return n + 1
	}
	return 0
}

func (i lineInspector) Inspect(_ Direction, msg []byte) Verdict {
	switch strings.TrimSpace(string(msg)) {
	case i.dropAt:
		return Verdict{Action: DropAndFreeze, Reason: "dropped " + i.dropAt}
	case i.freezeAfter:
		return Verdict{Action: ForwardAndFreeze, Reason: "after " + i.freezeAfter}
	}
	return Verdict{}
}

func (i lineInspector) Ended() (bool, string) { return false, "" }

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

const (
	arrives   = 5 * time.Second        // bound on waiting for something that must arrive
	staysAway = 100 * time.Millisecond // how long we look for something that must not arrive
)

// A message that makes the inspector freeze is dropped together with everything after it, on every proxy that shares
// the fuse; ForwardAndFreeze lets the message itself through first. The fuse says why it blew, once.
func TestFuseFreezesEveryLinkOfAProcess(t *testing.T) {
	for _, c := range []struct {
		name      string
		insp      lineInspector
		wantFirst []string
		reason    string
	}{
		{"drop", lineInspector{dropAt: "ack m-1"}, []string{"publish m-0"}, "dropped ack m-1"},
		{"forward then freeze", lineInspector{freezeAfter: "ack m-1"}, []string{"publish m-0", "ack m-1"}, "after ack m-1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			broker, db := newLineServer(t), newLineServer(t)
			var reasons []string
			var mu sync.Mutex
			fuse := NewFuse(func(r string) { mu.Lock(); reasons = append(reasons, r); mu.Unlock() })
			mq, err := NewProxyWith(broker.addr, Options{Fuse: fuse, Inspect: func() Inspector { return c.insp }})
			if err != nil {
				t.Fatal(err)
			}
			defer mq.Close()
			pg, err := NewProxyWith(db.addr, Options{Fuse: fuse})
			if err != nil {
				t.Fatal(err)
			}
			defer pg.Close()
			toBroker, toDB := dial(t, mq.Addr()), dial(t, pg.Addr())

			io.WriteString(toDB, "begin\n")
			if got := db.next(arrives); got != "begin" {
				t.Fatalf("database got %q before the freeze", got)
			}
			io.WriteString(toBroker, "publish m-0\nack m-1\npublish m-2\n")
			for _, want := range c.wantFirst {
				if got := broker.next(arrives); got != want {
					t.Fatalf("broker got %q, want %q", got, want)
				}
			}
			select {
			case <-fuse.Done():
			case <-time.After(arrives):
				t.Fatal("the fuse never blew")
			}
			io.WriteString(toDB, "commit\n")
			io.WriteString(toBroker, "publish m-3\n")
			if got := broker.next(staysAway); got != "" {
				t.Fatalf("broker got %q after the freeze", got)
			}
			if got := db.next(staysAway); got != "" {
				t.Fatalf("database got %q after the freeze", got)
			}
			if fuse.Blow("again") {
				t.Fatal("a blown fuse blew again")
			}
			mu.Lock()
			defer mu.Unlock()
			if len(reasons) != 1 || reasons[0] != c.reason || fuse.Reason() != c.reason {
				t.Fatalf("onBlow got %q, Reason %q; want once %q", reasons, fuse.Reason(), c.reason)
			}
		})
	}
}

// Slow delays each chunk by about d in its direction, keeps the order, and does not add the delays up.
func TestSlowDelaysADirection(t *testing.T) {
	srv := newLineServer(t)
	px, err := NewProxy(srv.addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer px.Close()
	const delay = 100 * time.Millisecond
	px.Slow(Up, delay)
	c := dial(t, px.Addr())
	lines := strings.Split("a b c d e f g h", " ")
	start := time.Now()
	for _, l := range lines {
		io.WriteString(c, l+"\n")
		time.Sleep(2 * time.Millisecond) // separate chunks, not one write
	}
	for _, want := range lines {
		if got := srv.next(arrives); got != want {
			t.Fatalf("got %q, want %q (order kept)", got, want)
		}
	}
	took := time.Since(start)
	if took < delay {
		t.Fatalf("%d lines arrived after %v, want at least the delay %v", len(lines), took, delay)
	}
	if added := time.Duration(len(lines)) * delay; took >= added/2 {
		t.Fatalf("%d lines arrived after %v: the delays were added up (%v) instead of overlapping", len(lines), took, added)
	}
	px.Slow(Up, 0)
	start = time.Now()
	io.WriteString(c, "z\n")
	if got := srv.next(arrives); got != "z" || time.Since(start) >= delay {
		t.Fatalf("after Slow(Up, 0): got %q after %v", got, time.Since(start))
	}
}

// A long delay followed by Slow(dir, 0) holds a direction until the test lets it go: the chunks already waiting go
// at once, in order.
func TestSlowZeroReleasesWhatIsHeld(t *testing.T) {
	srv := newLineServer(t)
	px, err := NewProxy(srv.addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer px.Close()
	const hold = time.Minute
	px.Slow(Up, hold)
	c := dial(t, px.Addr())
	io.WriteString(c, "held-1\n")
	io.WriteString(c, "held-2\n")
	if got := srv.next(staysAway); got != "" {
		t.Fatalf("got %q while the direction was held", got)
	}
	start := time.Now()
	px.Slow(Up, 0)
	for _, want := range []string{"held-1", "held-2"} {
		if got := srv.next(arrives); got != want {
			t.Fatalf("after the release got %q, want %q", got, want)
		}
	}
	if took := time.Since(start); took > hold/10 {
		t.Fatalf("the held lines arrived %v after the release", took)
	}
}

// endTap is a Tap that is told who ended its link.
type endTap struct{ byTarget chan bool }

func (e endTap) Up() io.Writer           { return io.Discard }
func (e endTap) Down() io.Writer         { return io.Discard }
func (e endTap) Closed(bool)             {}
func (e endTap) LinkEnded(byTarget bool) { e.byTarget <- byTarget }

// TargetEnded hears of a server that closed a link by itself, and of nothing the test or the client did; a Tap that
// is a LinkEnder is told the same, for every link.
func TestTargetEndedReportsOnlyUnaskedEndings(t *testing.T) {
	srv := newLineServer(t)
	ended := make(chan End, 4)
	tap := endTap{byTarget: make(chan bool, 4)}
	px, err := NewProxyWith(srv.addr, Options{TargetEnded: func(e End) { ended <- e }, Tap: func() Tap { return tap }})
	if err != nil {
		t.Fatal(err)
	}
	defer px.Close()

	client := dial(t, px.Addr())
	(<-srv.conns).Close() // the server goes away
	select {
	case e := <-ended:
		if !errors.Is(e.Err, io.EOF) {
			t.Fatalf("TargetEnded with %v, want EOF", e.Err)
		}
	case <-time.After(arrives):
		t.Fatal("a link the server ended was not reported")
	}
	client.SetReadDeadline(time.Now().Add(arrives))
	if _, err := client.Read(make([]byte, 1)); err == nil {
		t.Fatal("the client's side stayed open after the server ended the link")
	}

	if !<-tap.byTarget {
		t.Fatal("the tap was told the server's ending was not the server's")
	}
	dial(t, px.Addr()).Close() // the client leaves
	<-srv.conns
	if <-tap.byTarget {
		t.Fatal("the tap was told the client's ending was the server's")
	}
	cutter, err := NewProxyWith(srv.addr, Options{TargetEnded: func(e End) { ended <- e }})
	if err != nil {
		t.Fatal(err)
	}
	defer cutter.Close()
	dial(t, cutter.Addr())
	<-srv.conns
	waitFor(t, func() bool { return cutter.Cut() == 1 }) // the test cuts
	select {
	case e := <-ended:
		t.Fatalf("TargetEnded(%v) for an ending the client or the test caused", e)
	case <-time.After(staysAway):
	}
}

// The zero value of Points and a nil *Points never crash and never panic.
func TestPointsZeroValue(t *testing.T) {
	var p Points
	p.At(AfterCommit)
	p.Arm(BeforeCommit)
	done := make(chan struct{})
	go func() { defer close(done); p.At(BeforeCommit) }()
	<-done
	if p.Hits(AfterCommit) != 1 || p.Hits(BeforeCommit) != 1 {
		t.Fatalf("hits %d/%d, want 1/1", p.Hits(AfterCommit), p.Hits(BeforeCommit))
	}
	select {
	case <-p.Crashed():
	default:
		t.Fatal("an armed zero-value Points did not report its crash")
	}
	var none *Points
	none.At(AfterCommit)
	none.Arm(AfterCommit) // a nil *Points has nowhere to keep it: documented as never crashing
	if none.Reached(AfterCommit) || none.Crashed() != nil || none.Hits(AfterCommit) != 0 {
		t.Fatal("a nil *Points did something")
	}
}

func TestTriggerWords(t *testing.T) {
	for _, c := range []struct {
		t    Trigger
		want string
	}{
		{AfterCommitTo("public.Charges", 1), "right after its 1st transaction that wrote to charges committed"},
		{BeforeCommitTo(`"Inbox"`, 2), "just before its 2nd transaction that wrote to Inbox could commit"},
		{BeforeAckOf("m-1"), "just before its ack of m-1 left"},
		{BeforeAckOf("m-1").Nth(3), "just before its 3rd ack of m-1 left"},
		{BeforePublishOf(Msg{Type: "OrderBilled"}), "just before its publish of OrderBilled left"},
		{AfterConfirmOf("m-2"), "right after the broker's confirm of m-2 reached it"},
		{AfterDeliveryOf("m-1", 12), "right after it received m-1 for the 12th time"},
	} {
		if got := c.t.String(); !strings.HasPrefix(got, c.want) {
			t.Errorf("%q, want it to start with %q", got, c.want)
		}
	}
}
