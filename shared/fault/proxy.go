// Package fault injects the failures the labs teach, deterministically: a TCP proxy that can cut a service's
// connections (to RabbitMQ or PostgreSQL) the way a network or a killed process would, and named crash points where
// lab code can "die".
package fault

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
)

// Tap observes the bytes of one proxied connection. Up sees client→server bytes, Down server→client. Closed is called
// once when the connection ends, with cut true when the proxy cut it. Writes happen on the proxy's goroutines, one
// per direction; Closed after both have stopped.
type Tap interface {
	Up() io.Writer
	Down() io.Writer
	Closed(cut bool)
}

// Proxy forwards every connection made to its local address to a target address, so a test can cut them at will.
// A Proxy is safe for concurrent use.
type Proxy struct {
	target string
	ln     net.Listener
	newTap func() Tap

	mu     sync.Mutex
	links  map[*link]struct{}
	refuse bool
	closed bool
	wg     sync.WaitGroup
}

type link struct {
	client, server net.Conn
	tap            Tap
	once           sync.Once
	cut            bool
	blackholed     atomic.Bool // client→server bytes are read (and tapped) but no longer forwarded
}

// NewProxy listens on a free loopback port and forwards to target ("host:port"). newTap may be nil; otherwise it is
// called for each accepted connection.
func NewProxy(target string, newTap func() Tap) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("proxy listen: %w", err)
	}
	p := &Proxy{target: target, ln: ln, newTap: newTap, links: map[*link]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the proxy's listening address ("127.0.0.1:port"): give it to the service instead of the real one.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		refuse := p.refuse || p.closed
		p.mu.Unlock()
		if refuse {
			c.Close()
			continue
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		l := &link{client: c, server: s}
		if p.newTap != nil {
			l.tap = p.newTap()
		}
		p.mu.Lock()
		p.links[l] = struct{}{}
		p.mu.Unlock()
		p.wg.Add(1)
		go p.pipe(l)
	}
}

func (p *Proxy) pipe(l *link) {
	defer p.wg.Done()
	var up, down io.Writer = io.Discard, io.Discard
	if l.tap != nil {
		up, down = l.tap.Up(), l.tap.Down()
	}
	done := make(chan struct{}, 2)
	go func() { copyTapped(l.server, l.client, up, &l.blackholed); done <- struct{}{} }()
	go func() { copyTapped(l.client, l.server, down, nil); done <- struct{}{} }()
	<-done
	p.end(l, false)
	<-done
	p.mu.Lock()
	delete(p.links, l)
	cut := l.cut
	p.mu.Unlock()
	if l.tap != nil {
		l.tap.Closed(cut)
	}
}

// copyTapped copies src to dst, showing every chunk to tap before forwarding it, so that what the tap records is
// in causal order across both directions (a request is recorded before its answer can exist). While drop is set
// (it may be nil), chunks are still shown to tap but not forwarded.
func copyTapped(dst, src net.Conn, tap io.Writer, drop *atomic.Bool) {
	buf := make([]byte, 32*1024)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			_, _ = tap.Write(buf[:n])
			if drop != nil && drop.Load() {
				continue
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// end closes both sides of a link once; cut marks it as the proxy's doing.
func (p *Proxy) end(l *link, cut bool) {
	l.once.Do(func() {
		if cut {
			p.mu.Lock()
			l.cut = true
			p.mu.Unlock()
		}
		l.client.Close()
		l.server.Close()
	})
}

// Cut closes every open connection through the proxy at once, as if the network dropped them, and returns how many
// it cut. New connections are still accepted (a client may reconnect) unless Refuse was called.
func (p *Proxy) Cut() int {
	p.mu.Lock()
	links := make([]*link, 0, len(p.links))
	for l := range p.links {
		links = append(links, l)
	}
	p.mu.Unlock()
	for _, l := range links {
		p.end(l, true)
	}
	return len(links)
}

// Blackhole makes every open connection through the proxy silently lose what the client sends from now on: the
// bytes are read (the tap still sees them) but never reach the server, as when a network path dies and neither side
// is told. The client's writes keep succeeding; answers stop, since the server hears nothing. Such a connection can
// never recover: follow with Cut, as the operating system eventually would. New connections are not affected.
// It returns how many connections it affected.
func (p *Proxy) Blackhole() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	for l := range p.links {
		l.blackholed.Store(true)
	}
	return len(p.links)
}

// Refuse makes the proxy turn away new connections (true) or accept them again (false): the service is "down".
func (p *Proxy) Refuse(refuse bool) {
	p.mu.Lock()
	p.refuse = refuse
	p.mu.Unlock()
}

// Close cuts every connection, stops listening and waits for the proxy's goroutines.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	err := p.ln.Close()
	p.Cut()
	p.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}
