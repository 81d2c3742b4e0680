package story

import (
	"fmt"
	"os"
	"sync"
	"time"
)

// Kind says what a timeline entry is about. The words are the ones the checker's diagrams read (the event export);
// keep them stable.
type Kind string

// The kinds of entries. Wire events come from the harness's recorder, process events from the harness's processes,
// Log from lines a test or a service wrote, Failure from the verdict.
const (
	Publish           Kind = "publish"            // a process published a message
	Deliver           Kind = "deliver"            // the broker handed a message to a process (a delivery or a get)
	Ack               Kind = "ack"                // a consumer acked
	Nack              Kind = "nack"               // a consumer nacked
	Reject            Kind = "reject"             // a consumer rejected
	Confirm           Kind = "confirm"            // the broker confirmed a publish
	Refuse            Kind = "refuse"             // the broker refused a publish (negative confirm)
	Return            Kind = "return"             // the broker returned an unroutable mandatory message
	Consume           Kind = "consume"            // a consumer started (or set its prefetch)
	Declare           Kind = "declare"            // a queue or exchange was declared
	Bind              Kind = "bind"               // a queue was bound to an exchange
	Crash             Kind = "crash"              // a process died at a crash point or a wire-level trigger
	Kill              Kind = "kill"               // the test killed a process
	Cut               Kind = "cut"                // a connection was cut (by the test or lost)
	RefusedConnection Kind = "refused-connection" // a service could not connect (the test made it unreachable)
	Exit              Kind = "exit"               // a child process exited
	Log               Kind = "log"                // a line a test or a service wrote
	Failure           Kind = "failure"            // the test's verdict
)

// setUp reports whether entries of this kind only prepare the topology (hidden behind a summary unless verbose).
func (k Kind) setUp() bool { return k == Declare || k == Bind || k == Consume }

// EnvVerbose names the variable that makes every timeline print in full (the checker's --verbose sets it).
const EnvVerbose = "MSGLABS_VERBOSE"

// Verbose reports whether MSGLABS_VERBOSE asks for every timeline line (any value but "", "0" and "false").
func Verbose() bool {
	v := os.Getenv(EnvVerbose)
	return v != "" && v != "0" && v != "false"
}

// Entry is one event of a timeline. Text is the line a person reads; the other fields say the same in a form a
// program can draw.
type Entry struct {
	At          time.Duration // since the timeline started (set by the timeline)
	Actor       string        // the process that did it: "test", "billing", "billing#2"
	Kind        Kind          // what it is about; Log when empty
	Message     string        // the message id it concerns ("m-1"), if any
	Peer        string        // the queue or exchange (short name), or the other actor, if any
	Redelivered bool          // a delivery the broker marked as redelivered
	Text        string        // the line as the timeline prints it
	// Brief is the set-up summary's phrase for a set-up entry: `queue "billing"`, `"sales" → "billing" by "o"`, and
	// for a consumer what follows "billing consumes": `"billing" (manual ack, prefetch 1)`. Empty means Text; a
	// consumer entry without one (a prefetch) is not listed.
	Brief string
	// TTL is a publish's per-message expiration (its Expiration property): how long a queue may hold the message
	// before it expires. 0 without one.
	TTL time.Duration
}

// Timeline records what happened during one test, in order. It is safe for concurrent use.
type Timeline struct {
	mu        sync.Mutex
	start     time.Time
	entries   []Entry
	showSetUp bool
}

// NewTimeline starts an empty timeline now.
func NewTimeline() *Timeline { return &Timeline{start: time.Now()} }

// Add appends a line said by actor (kind Log).
func (tl *Timeline) Add(actor, format string, args ...any) {
	tl.Record(Entry{Actor: actor, Kind: Log, Text: fmt.Sprintf(format, args...)})
}

// Record appends a structured entry, stamping its time. An empty Kind is Log.
func (tl *Timeline) Record(e Entry) {
	if e.Kind == "" {
		e.Kind = Log
	}
	tl.mu.Lock()
	defer tl.mu.Unlock()
	e.At = time.Since(tl.start)
	tl.entries = append(tl.entries, e)
}

// Entries returns a copy of the entries so far.
func (tl *Timeline) Entries() []Entry {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return append([]Entry(nil), tl.entries...)
}

// Elapsed returns how long the timeline has been running: the At an entry recorded now would get.
func (tl *Timeline) Elapsed() time.Duration {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return time.Since(tl.start)
}

// Quiet returns how long ago the last entry was recorded (since the timeline started, when there is none).
func (tl *Timeline) Quiet() time.Duration {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	now := time.Since(tl.start)
	if len(tl.entries) == 0 {
		return now
	}
	return now - tl.entries[len(tl.entries)-1].At
}

// ShowSetUp keeps the declares, binds and consumers in the printed timeline: call it before failing when the
// failure is about the topology itself (a binding, a prefetch), so the summary line does not hide what matters.
func (tl *Timeline) ShowSetUp() {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	tl.showSetUp = true
}

func (tl *Timeline) setUpShown() bool {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return tl.showSetUp
}

// String renders the timeline for a person: set-up folded into a summary line, long runs of lines that repeat
// folded into one ("… 98 more publish/confirm pairs like these"), the lines before the end (where the failure is)
// whole, at most MaxLines lines. With MSGLABS_VERBOSE set it is Full.
func (tl *Timeline) String() string {
	if Verbose() {
		return tl.Full()
	}
	return render(fold(tl.Entries(), tl.setUpShown()))
}

// Full renders every entry, one line each, nothing folded.
func (tl *Timeline) Full() string {
	entries := tl.Entries()
	rows := make([]row, len(entries))
	for i, e := range entries {
		rows[i] = entryRow(e)
	}
	return render(rows)
}
