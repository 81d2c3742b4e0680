package harness

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5/pgxpool"
	amqp "github.com/rabbitmq/amqp091-go"

	"msglabs/shared/fault"
)

// A spawned service is the test binary itself, started again with childEnv set to its childConfig. It talks to the
// test over two extra pipes (never stdout or stderr, so whatever the service prints cannot corrupt the protocol):
// file descriptor 3 carries the test's messages to the child, 4 the child's to the test, one JSON envelope after the
// other. When the test process dies, fd 3 reaches its end and the child exits at once (and, on Linux, the kernel
// kills it as well: Pdeathsig).
const (
	childEnv      = "MSGLABS_HARNESS_CHILD"
	childInFD     = 3
	childOutFD    = 4
	exitOrphaned  = 70 // the test went away
	exitBadConfig = 71 // the child could not understand what it was started as
	exitFatal     = 72 // Service.MustDial or Service.Pool failed (the test was told why)
)

// childConfig is what a child is started as.
type childConfig struct {
	Role   string `json:"role"`
	Name   string `json:"name"`   // "billing#2"
	Prefix string `json:"prefix"` // the test's name prefix, for connection names
	Args   Args   `json:"args"`
}

// Envelope kinds. Child → test: log, call, point, broker, db, fatal, done. Test → child: reply, stop.
const (
	msgLog    = "log"    // Text: a line for the timeline
	msgCall   = "call"   // Name, Arg: Service.Call; answered by a reply
	msgPoint  = "point"  // Name: Points.At reached; answered by a reply unless the point is fatal
	msgBroker = "broker" // the broker URL through the child's proxy, please
	msgDB     = "db"     // the database URL through the child's proxy, and the schema, please
	msgFatal  = "fatal"  // Text: the service cannot go on
	msgDone   = "done"   // Text: the error the role returned ("" for none)
	msgReply  = "reply"  // ID: the request answered; Text, URL, Schema: the answer; Err: why there is none
	msgStop   = "stop"   // the test is over: return from the role
)

// pointFatal is the answer to a point visit that must stop the caller (the test kills the process before it would
// normally be read).
const pointFatal = "fatal"

type envelope struct {
	T      string `json:"t"`
	ID     uint64 `json:"id,omitempty"`
	Name   string `json:"name,omitempty"`
	Arg    string `json:"arg,omitempty"`
	Text   string `json:"text,omitempty"`
	URL    string `json:"url,omitempty"`
	Schema string `json:"schema,omitempty"`
	Err    string `json:"err,omitempty"`
}

// runChild runs the role the child was started as and returns its exit status.
func runChild(rawConfig string, r Roles) int {
	var cfg childConfig
	if err := json.Unmarshal([]byte(rawConfig), &cfg); err != nil {
		fmt.Fprintf(os.Stderr, "harness: cannot read %s: %v\n", childEnv, err)
		return exitBadConfig
	}
	run, ok := r[cfg.Role]
	if !ok {
		fmt.Fprintf(os.Stderr, "harness: this test binary has no role %q\n", cfg.Role)
		return exitBadConfig
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	link := newParentLink(os.NewFile(childInFD, "from-test"), os.NewFile(childOutFD, "to-test"), stop)
	s := &Service{Name: cfg.Name, ctx: ctx, args: cfg.Args, be: link}
	link.connName = cfg.Prefix + "/" + cfg.Name
	s.Points = fault.AskingPoints(link.askPoint)
	err := run(ctx, s)
	s.close()
	done := envelope{T: msgDone}
	if err != nil && ctx.Err() == nil {
		done.Text = err.Error()
	}
	link.send(done)
	return 0
}

// parentLink is the child's end of the line to the test. It is safe for concurrent use.
type parentLink struct {
	in       *json.Decoder
	connName string

	mu      sync.Mutex // guards out and waiting
	out     *json.Encoder
	waiting map[uint64]chan envelope
	nextID  atomic.Uint64
}

func newParentLink(in io.Reader, out io.Writer, stop func()) *parentLink {
	l := &parentLink{in: json.NewDecoder(in), out: json.NewEncoder(out), waiting: map[uint64]chan envelope{}}
	go l.read(stop)
	return l
}

// read takes the test's messages until the line ends; when it ends, the test is gone and so is the child.
func (l *parentLink) read(stop func()) {
	for {
		var e envelope
		if err := l.in.Decode(&e); err != nil {
			os.Exit(exitOrphaned)
		}
		switch e.T {
		case msgStop:
			stop()
		case msgReply:
			l.mu.Lock()
			ch := l.waiting[e.ID]
			delete(l.waiting, e.ID)
			l.mu.Unlock()
			if ch != nil {
				ch <- e
			}
		}
	}
}

func (l *parentLink) send(e envelope) {
	l.mu.Lock()
	defer l.mu.Unlock()
	_ = l.out.Encode(e)
}

// ask sends a request and blocks for its reply (for a fatal crash point, until the test kills the process).
func (l *parentLink) ask(e envelope) envelope {
	e.ID = l.nextID.Add(1)
	ch := make(chan envelope, 1)
	l.mu.Lock()
	l.waiting[e.ID] = ch
	_ = l.out.Encode(e)
	l.mu.Unlock()
	return <-ch
}

func (l *parentLink) askPoint(point string) bool {
	// A fatal visit is never answered: the test kills the process while it waits here.
	return l.ask(envelope{T: msgPoint, Name: point}).Text == pointFatal
}

func (l *parentLink) call(name, arg string) string {
	reply := l.ask(envelope{T: msgCall, Name: name, Arg: arg})
	if reply.Err != "" {
		l.logf("Call(" + name + "): " + reply.Err)
	}
	return reply.Text
}

func (l *parentLink) logf(text string) { l.send(envelope{T: msgLog, Text: text}) }

func (l *parentLink) dial() (*amqp.Connection, error) {
	reply := l.ask(envelope{T: msgBroker})
	if reply.Err != "" {
		return nil, errors.New(reply.Err)
	}
	return dialBroker(reply.URL, l.connName)
}

func (l *parentLink) openPool() (*pgxpool.Pool, error) {
	reply := l.ask(envelope{T: msgDB})
	if reply.Err != "" {
		return nil, errors.New(reply.Err)
	}
	return newPool(reply.URL, reply.Schema)
}

func (l *parentLink) fatal(err error) {
	l.send(envelope{T: msgFatal, Text: err.Error()})
	os.Exit(exitFatal)
}
