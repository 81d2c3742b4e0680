package fault

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// echoServer answers every line with the same line.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); io.Copy(c, c) }()
		}
	}()
	return ln.Addr().String()
}

type bufTap struct {
	mu       sync.Mutex
	up, down bytes.Buffer
	closed   chan bool
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (b *bufTap) Up() io.Writer   { return lockedWriter{&b.mu, &b.up} }
func (b *bufTap) Down() io.Writer { return lockedWriter{&b.mu, &b.down} }
func (b *bufTap) Closed(cut bool) { b.closed <- cut }
func (b *bufTap) seen() (string, string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.up.String(), b.down.String()
}

func TestProxyForwardsTapsAndCuts(t *testing.T) {
	tap := &bufTap{closed: make(chan bool, 1)}
	p, err := NewProxy(echoServer(t), func() Tap { return tap })
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "hello\n")
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || line != "hello\n" {
		t.Fatalf("echo through proxy = %q, %v", line, err)
	}
	if up, down := tap.seen(); up != "hello\n" || down != "hello\n" {
		t.Fatalf("tap saw up=%q down=%q", up, down)
	}
	if n := p.Cut(); n != 1 {
		t.Fatalf("Cut = %d, want 1", n)
	}
	select {
	case cut := <-tap.closed:
		if !cut {
			t.Fatal("Closed(cut=false) after Cut")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("tap never told of the close")
	}
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("client connection still open after Cut")
	}
}

func TestProxyRefuse(t *testing.T) {
	p, err := NewProxy(echoServer(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.Refuse(true)
	c, err := net.Dial("tcp", p.Addr())
	if err == nil {
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Fatal("a refused connection stayed open")
		}
		c.Close()
	}
}

func TestPointsFireOnTheNthVisitAndStopTheGoroutine(t *testing.T) {
	var died string
	p := NewPoints(func(point string) { died = point })
	p.ArmNth(AfterCommit, 2)
	reached := make(chan int, 3)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 1; i <= 3; i++ {
			p.At(AfterCommit)
			reached <- i
		}
	}()
	<-done
	close(reached)
	var after []int
	for i := range reached {
		after = append(after, i)
	}
	if died != AfterCommit || len(after) != 1 || after[0] != 1 || p.Hits(AfterCommit) != 2 {
		t.Fatalf("died=%q after=%v hits=%d: want a crash on the 2nd visit", died, after, p.Hits(AfterCommit))
	}
	select {
	case <-p.Crashed():
	default:
		t.Fatal("Crashed not closed")
	}
	var nilPoints *Points
	nilPoints.At(AfterCommit) // never crashes
}
