package fault

import (
	"bytes"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// captureTap records what a proxied connection carried upstream.
type captureTap struct {
	mu sync.Mutex
	up bytes.Buffer
}

func (c *captureTap) Up() io.Writer   { return writerFunc(c.write) }
func (c *captureTap) Down() io.Writer { return io.Discard }
func (c *captureTap) Closed(bool)     {}
func (c *captureTap) write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.up.Write(p)
}
func (c *captureTap) seen() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.up.String()
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// After Blackhole, what the client sends is tapped but never reaches the server, and the client is not told.
func TestBlackholeSwallowsClientBytes(t *testing.T) {
	srv, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	received := make(chan string, 4)
	go func() {
		c, err := srv.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 64)
		for {
			n, err := c.Read(buf)
			if n > 0 {
				received <- string(buf[:n])
			}
			if err != nil {
				return
			}
		}
	}()
	tap := &captureTap{}
	px, err := NewProxy(srv.Addr().String(), func() Tap { return tap })
	if err != nil {
		t.Fatal(err)
	}
	defer px.Close()
	client, err := net.Dial("tcp", px.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()

	if _, err := client.Write([]byte("before")); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-received:
		if got != "before" {
			t.Fatalf("server got %q, want %q", got, "before")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("nothing forwarded before the blackhole")
	}

	waitFor(t, func() bool { return px.Blackhole() == 1 })
	if _, err := client.Write([]byte("after")); err != nil {
		t.Fatalf("the client was told: %v", err)
	}
	waitFor(t, func() bool { return tap.seen() == "beforeafter" })
	select {
	case got := <-received:
		t.Fatalf("server got %q through a blackhole", got)
	case <-time.After(50 * time.Millisecond):
	}
	if n := px.Cut(); n != 1 {
		t.Fatalf("cut %d connections, want 1", n)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition never held")
		}
		time.Sleep(time.Millisecond)
	}
}
