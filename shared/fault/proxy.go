// Package fault injects the failures the labs teach, deterministically: a TCP proxy that can cut, freeze or slow a
// service's connections (to RabbitMQ or PostgreSQL) the way a network or a killed process would, wire-level crash
// triggers that fire on what a service really sends and receives, and named crash points where lab code can "die".
package fault

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Direction names one way through a proxied connection.
type Direction int

// The two directions.
const (
	Up   Direction = iota // client → server: what the service sends
	Down                  // server → client: what the service receives
)

func (d Direction) String() string {
	if d == Up {
		return "up"
	}
	return "down"
}

// Tap observes the bytes of one proxied connection. Up sees client→server bytes, Down server→client. Closed is called
// once when the connection ends, with cut true when the proxy cut it. Writes happen on the proxy's goroutines, one
// per direction; Closed after both have stopped. A Tap sees exactly what is forwarded (and, after Blackhole, what the
// client sent into the void), never what a frozen link swallowed.
type Tap interface {
	Up() io.Writer
	Down() io.Writer
	Closed(cut bool)
}

// LinkEnder is a Tap that wants to know who ended its link: just before Closed, the proxy calls LinkEnded with
// byTarget true when the server's side ended it and nobody had asked (not the test by cutting it, not the client by
// closing it or saying goodbye in its protocol, not a frozen process).
type LinkEnder interface {
	LinkEnded(byTarget bool)
}

// Inspector reads one proxied connection message by message, so it can decide each message's fate before it is
// forwarded. Split and Inspect are called from the proxy's goroutine of that direction, one call at a time per
// direction; the two directions run concurrently, so an Inspector whose directions share state must lock it.
type Inspector interface {
	// Split returns the length of the first whole protocol message at the start of buf: 0 when buf holds only part
	// of one, -1 when the conversation can no longer be followed (the rest of the link is forwarded as it comes).
	Split(dir Direction, buf []byte) int
	// Inspect sees each whole message just before it is forwarded and says what to do with it.
	Inspect(dir Direction, msg []byte) Verdict
	// Ended is called once, when the link is over. It tells whether the client had asked to end the conversation,
	// and the server's last word before it closed, if the protocol has one ("320 CONNECTION_FORCED - …").
	Ended() (clientAsked bool, serverSaid string)
}

// Action is what a proxy does with one inspected message.
type Action int

// The actions.
const (
	Forward          Action = iota // pass it on
	DropAndFreeze                  // blow the fuse first: the message and everything after it are lost
	ForwardAndFreeze               // pass it on, then blow the fuse, with nothing crossing any link in between
)

// Verdict is an Inspector's decision about one message; Reason is given to the Fuse when it blows.
type Verdict struct {
	Action Action
	Reason string
}

// End says how the target ended a link on its own.
type End struct {
	Err  error  // what reading from the target returned (io.EOF when it closed cleanly)
	Said string // its last word, when the protocol has one and the Inspector heard it
}

// Options configure a proxy. Every field may be left zero.
type Options struct {
	// Tap, if set, is called for each accepted connection.
	Tap func() Tap
	// Inspect, if set, is called for each accepted connection; the proxy then forwards whole messages only.
	Inspect func() Inspector
	// Fuse, if set, is shared with the other proxies of one process: when it blows, nothing crosses any of them.
	// Without one, the proxy has a fuse of its own.
	Fuse *Fuse
	// TargetEnded, if set, is called when the target ended a link that neither the test (Cut, Close) nor the client
	// (by closing, or by saying goodbye in its protocol) ended: the broker or the database went away by itself.
	TargetEnded func(End)
}

// forwardBuffer is how much one read takes; chunksInFlight bounds what a slowed direction holds back.
const (
	forwardBuffer  = 32 * 1024
	chunksInFlight = 64
)

// Proxy forwards every connection made to its local address to a target address, so a test can cut, freeze, slow or
// black-hole them at will. A Proxy is safe for concurrent use.
type Proxy struct {
	target string
	ln     net.Listener
	opts   Options
	fuse   *Fuse
	delay  [2]atomic.Int64 // per Direction, nanoseconds added to every forwarded chunk
	// retimed is closed (and replaced) by Slow, so a chunk already waiting out the old delay is timed again.
	retimed atomic.Pointer[chan struct{}]

	mu     sync.Mutex
	links  map[*link]struct{}
	refuse bool
	closed bool
	wg     sync.WaitGroup
}

// Who ended a link first.
const (
	endedByNobody int32 = iota
	endedByClient
	endedByServer
	endedByCut
)

type link struct {
	client, server net.Conn
	tap            Tap
	insp           Inspector
	once           sync.Once
	done           chan struct{} // closed when the link is ended
	endedBy        atomic.Int32
	serverErr      error       // how reading from the server ended, when it ended the link
	blackholed     atomic.Bool // client→server bytes are read (and tapped) but no longer forwarded
}

// NewProxy listens on a free loopback port and forwards to target ("host:port"). newTap may be nil; otherwise it is
// called for each accepted connection.
func NewProxy(target string, newTap func() Tap) (*Proxy, error) {
	return NewProxyWith(target, Options{Tap: newTap})
}

// NewProxyWith is NewProxy with every option.
func NewProxyWith(target string, o Options) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("proxy listen: %w", err)
	}
	p := &Proxy{target: target, ln: ln, opts: o, fuse: o.Fuse, links: map[*link]struct{}{}}
	retimed := make(chan struct{})
	p.retimed.Store(&retimed)
	if p.fuse == nil {
		p.fuse = NewFuse(nil)
	}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the proxy's listening address ("127.0.0.1:port"): give it to the service instead of the real one.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Fuse is the fuse this proxy's links go through.
func (p *Proxy) Fuse() *Fuse { return p.fuse }

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
		if refuse || p.fuse.Blown() {
			c.Close()
			continue
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		l := &link{client: c, server: s, done: make(chan struct{})}
		if p.opts.Tap != nil {
			l.tap = p.opts.Tap()
		}
		if p.opts.Inspect != nil {
			l.insp = p.opts.Inspect()
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
	go func() { p.half(l, Up, l.client, l.server, up); done <- struct{}{} }()
	go func() { p.half(l, Down, l.server, l.client, down); done <- struct{}{} }()
	<-done
	<-done
	p.mu.Lock()
	delete(p.links, l)
	p.mu.Unlock()
	var asked bool
	var said string
	if l.insp != nil {
		asked, said = l.insp.Ended()
	}
	byTarget := l.endedBy.Load() == endedByServer && !asked && !p.fuse.Blown()
	if e, ok := l.tap.(LinkEnder); ok {
		e.LinkEnded(byTarget)
	}
	if l.tap != nil {
		l.tap.Closed(l.endedBy.Load() == endedByCut)
	}
	if byTarget && p.opts.TargetEnded != nil {
		p.opts.TargetEnded(End{Err: l.serverErr, Said: said})
	}
}

type chunk struct {
	data []byte
	at   time.Time
}

// half moves one direction of a link: a reader takes chunks off src as they come, and this goroutine forwards each
// one when its delay is up, showing it to tap first, so that what the tap records is in causal order across both
// directions (a request is recorded before its answer can exist). When src ends, what it sent is still forwarded,
// then the link ends.
func (p *Proxy) half(l *link, dir Direction, src, dst net.Conn, tap io.Writer) {
	chunks := make(chan chunk, chunksInFlight)
	var srcErr error
	go func() {
		defer close(chunks)
		buf := make([]byte, forwardBuffer)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				chunks <- chunk{data: append([]byte(nil), buf[:n]...), at: time.Now()}
			}
			if err != nil {
				srcErr = err
				return
			}
		}
	}()
	srcSide, dstSide := endedByClient, endedByServer
	if dir == Down {
		srcSide, dstSide = endedByServer, endedByClient
	}
	f := &forwarder{p: p, l: l, dir: dir, dst: dst, tap: tap, insp: l.insp}
	ok := true
	for c := range chunks {
		if !ok {
			continue // the link is ending: let the reader run dry
		}
		p.wait(l, dir, c.at)
		if ok = f.forward(c.data); !ok {
			p.end(l, dstSide, f.err)
		}
	}
	if ok {
		p.end(l, srcSide, srcErr)
	}
}

// wait holds a chunk read at the given time until the direction's delay has passed (or the link ended). When Slow
// changes the delay meanwhile, the chunk is timed again with the new one.
func (p *Proxy) wait(l *link, dir Direction, at time.Time) {
	for {
		retimed := *p.retimed.Load()
		d := time.Duration(p.delay[dir].Load())
		if d <= 0 {
			return
		}
		wait := time.Until(at.Add(d))
		if wait <= 0 {
			return
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
			return
		case <-l.done:
			t.Stop()
			return
		case <-retimed:
			t.Stop()
		}
	}
}

// forwarder writes one direction's bytes on, whole messages at a time when the link has an Inspector.
type forwarder struct {
	p       *Proxy
	l       *link
	dir     Direction
	dst     net.Conn
	tap     io.Writer
	insp    Inspector // nil once the conversation cannot be followed
	pending []byte    // bytes of a message not yet whole
	err     error
}

// forward passes data on and reports whether the destination still takes it.
func (f *forwarder) forward(data []byte) bool {
	if f.p.fuse.Blown() {
		f.pending = nil
		return true // frozen: what the client sends now vanishes, unread
	}
	if f.insp == nil {
		return f.flush(data)
	}
	f.pending = append(f.pending, data...)
	start, off := 0, 0
	for off < len(f.pending) {
		n := f.insp.Split(f.dir, f.pending[off:])
		if n < 0 {
			f.insp = nil
			off = len(f.pending)
			break
		}
		if n == 0 {
			break
		}
		v := f.insp.Inspect(f.dir, f.pending[off:off+n])
		switch v.Action {
		case DropAndFreeze:
			ok := f.flush(f.pending[start:off])
			f.p.fuse.Blow(v.Reason)
			f.pending = nil
			return ok
		case ForwardAndFreeze:
			ok := f.flushThenBlow(f.pending[start:off+n], v.Reason)
			f.pending = nil
			return ok
		}
		off += n
	}
	ok := f.flush(f.pending[start:off])
	f.pending = append(f.pending[:0], f.pending[off:]...)
	return ok
}

func (f *forwarder) flush(data []byte) bool {
	if len(data) == 0 {
		return true
	}
	_, err := f.p.fuse.pass(func() error { return f.write(data) })
	return f.ok(err)
}

func (f *forwarder) flushThenBlow(data []byte, reason string) bool {
	_, err := f.p.fuse.passThenBlow(func() error { return f.write(data) }, reason)
	return f.ok(err)
}

func (f *forwarder) ok(err error) bool {
	if err != nil {
		f.err = err
		return false
	}
	return true
}

// write shows data to the tap and sends it, unless the link is black-holed in this direction.
func (f *forwarder) write(data []byte) error {
	_, _ = f.tap.Write(data)
	if f.dir == Up && f.l.blackholed.Load() {
		return nil
	}
	_, err := f.dst.Write(data)
	return err
}

// end closes both sides of a link once, noting who ended it first (and, when it was the server, how).
func (p *Proxy) end(l *link, by int32, err error) {
	l.once.Do(func() {
		l.serverErr = err
		l.endedBy.Store(by)
		close(l.done)
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
		p.end(l, endedByCut, nil)
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

// Slow delays every chunk forwarded in direction dir by d (0 removes the delay), on open and new connections alike.
// Chunks keep their order and are delayed, not spaced out: a burst arrives d late, all together. A chunk already
// waiting is timed again with d, so a long delay followed by Slow(dir, 0) holds a direction until the test lets it go.
func (p *Proxy) Slow(dir Direction, d time.Duration) {
	p.delay[dir].Store(int64(d))
	next := make(chan struct{})
	close(*p.retimed.Swap(&next))
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
