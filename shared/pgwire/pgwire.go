// Package pgwire follows the PostgreSQL frontend/backend protocol (version 3) of one client connection as it passes
// through the harness's proxy, so a test can act on what the database really did: where each message ends, which
// statements wrote to which tables, and the moment a transaction that wrote them commits (or is about to).
//
// It only reads. It knows the start-up exchange (SSLRequest, GSSENCRequest, StartupMessage), the simple query
// protocol (Query), the extended one (Parse, Bind, Execute, Sync), CommandComplete tags, ErrorResponse and
// ReadyForQuery's transaction status; every other message is skipped by its length. A conversation that switches to
// TLS cannot be followed: Split then reports -1 (the harness connects its services with sslmode=disable).
package pgwire

import (
	"encoding/binary"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Start-up request codes (the second int32 of an untyped start-up message).
const (
	protocolV3     = 196608   // StartupMessage, protocol 3.0
	sslRequest     = 80877103 // SSLRequest: "may we speak TLS?"
	gssencRequest  = 80877104 // GSSENCRequest: "may we speak GSSAPI encryption?"
	cancelRequest  = 80877102 // CancelRequest, on a connection of its own
	maxStartupLen  = 10000    // the server's own limit on a start-up packet
	maxMessageLen  = 1 << 30  // the protocol's limit on one message
	typedHeaderLen = 5        // type byte + int32 length
)

// Frontend (client → server) and backend (server → client) message types the Conn reads.
const (
	msgQuery     = 'Q'
	msgParse     = 'P'
	msgBind      = 'B'
	msgExecute   = 'E'
	msgSync      = 'S'
	msgTerminate = 'X'

	msgCommandComplete = 'C'
	msgEmptyQuery      = 'I'
	msgPortalSuspended = 's'
	msgErrorResponse   = 'E'
	msgReadyForQuery   = 'Z'
)

// Transaction status in ReadyForQuery.
const (
	statusIdle   = 'I' // not in a transaction block
	statusInTx   = 'T' // in a transaction block
	statusFailed = 'E' // in a failed transaction block: every statement is refused until it ends
)

// Kind is what one message meant for the transactions on a connection.
type Kind int

// The events a Conn reports. Most messages mean nothing (None).
const (
	None Kind = iota
	// CommitAttempt: the client sent what commits a transaction that wrote Tables (a COMMIT in a transaction block,
	// the Sync that ends an implicit transaction of the extended protocol, or an autocommit Query). Dropping this
	// message and cutting the connection rolls the transaction back.
	CommitAttempt
	// Committed: the server reported that a transaction that wrote Tables has committed (ReadyForQuery, idle, after
	// a transaction with no error that did not end in ROLLBACK).
	Committed
	// Terminate: the client said goodbye (Terminate): the connection's end is its own doing.
	Terminate
	// Fatal: the server reported a FATAL or PANIC error (Text): it is about to end the connection.
	Fatal
	// Encrypted: the conversation switched to TLS; from here on it cannot be followed.
	Encrypted
)

// Event is what one message meant. Tables are lower-case names without schema (quoted names keep their case).
type Event struct {
	Kind   Kind
	Tables []string
	Text   string
}

// unit is one thing the server will answer: a Query (one CommandComplete per statement, then ReadyForQuery), an
// Execute (one CommandComplete), or a Sync (a ReadyForQuery).
type unit struct {
	simple bool        // a Query
	sync   bool        // a Sync marker
	stmts  []statement // the Query's statements, or the Execute's one
	next   int         // statements answered so far
}

// Conn follows one client connection. Give each whole message, in order, to Frontend or Backend (Split finds where
// messages end). The two directions may be fed from two goroutines; a Conn locks its state.
type Conn struct {
	mu          sync.Mutex
	startup     bool // the client has not sent its StartupMessage yet: its messages are untyped
	awaitAnswer bool // the client asked for encryption: the server answers with one byte
	lost        bool // encrypted or unreadable: nothing more can be followed

	statements map[string]statement // prepared statement name → its statement ("" is the unnamed one)
	portals    map[string]statement // portal name → its statement
	pending    []*unit              // what the server has yet to answer, in order
	status     byte                 // the last ReadyForQuery's status
	writes     []string             // tables written in the current transaction, as the server confirmed
	failed     bool                 // an error since the last ReadyForQuery outside a transaction block
	rolledBack bool                 // the transaction's last word was ROLLBACK (or PREPARE TRANSACTION)
}

// NewConn returns a Conn for a connection that has just been opened.
func NewConn() *Conn {
	return &Conn{startup: true, status: statusIdle, statements: map[string]statement{}, portals: map[string]statement{}}
}

// Split returns the length of the first whole message at the start of buf: 0 when buf holds only part of one, -1
// when the conversation can no longer be followed (it switched to TLS, or the bytes are not the protocol).
func (c *Conn) Split(fromServer bool, buf []byte) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lost {
		return -1
	}
	switch {
	case fromServer && c.awaitAnswer:
		return min(len(buf), 1)
	case !fromServer && c.startup:
		if len(buf) < 4 {
			return 0
		}
		n := int(binary.BigEndian.Uint32(buf))
		if n < 8 || n > maxStartupLen {
			c.lost = true
			return -1
		}
		return whole(buf, n)
	}
	if len(buf) < typedHeaderLen {
		return 0
	}
	n := int(binary.BigEndian.Uint32(buf[1:]))
	if n < 4 || n > maxMessageLen {
		c.lost = true
		return -1
	}
	return whole(buf, 1+n)
}

func whole(buf []byte, n int) int {
	if len(buf) < n {
		return 0
	}
	return n
}

// Frontend reads one whole message from the client.
func (c *Conn) Frontend(msg []byte) Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lost || len(msg) == 0 {
		return Event{}
	}
	if c.startup {
		return c.startupMessage(msg)
	}
	body := msg[typedHeaderLen:]
	switch msg[0] {
	case msgQuery:
		return c.query(cstring(body))
	case msgParse:
		name, rest := cstringRest(body)
		c.statements[name] = parse(cstring(rest))[0]
	case msgBind:
		portal, rest := cstringRest(body)
		c.portals[portal] = c.statements[cstring(rest)]
	case msgExecute:
		return c.execute(c.portals[cstring(body)])
	case msgSync:
		return c.sync()
	case msgTerminate:
		return Event{Kind: Terminate}
	}
	return Event{}
}

func (c *Conn) startupMessage(msg []byte) Event {
	switch binary.BigEndian.Uint32(msg[4:]) {
	case sslRequest, gssencRequest:
		c.awaitAnswer = true
	case protocolV3:
		c.startup = false
	case cancelRequest:
		// A connection of its own that asks the server to cancel another one's query (pgx opens one when a
		// context ends a query); the server closes it once it has read the request: the end is the client's doing.
		return Event{Kind: Terminate}
	default:
		c.lost = true
	}
	return Event{}
}

// query is a simple-protocol Query: its statements run in order; outside a transaction block they form one implicit
// transaction, which commits when the Query ends.
func (c *Conn) query(text string) Event {
	stmts := parse(text)
	if c.status == statusFailed {
		c.pending = append(c.pending, &unit{simple: true, stmts: stmts})
		return Event{} // a failed transaction cannot commit: its COMMIT is a ROLLBACK
	}
	tables := c.pendingWrites(c.writes)
	c.pending = append(c.pending, &unit{simple: true, stmts: stmts})
	inTx := c.status == statusInTx
	for _, s := range stmts {
		switch s.kind {
		case stmtBegin:
			inTx = true
		case stmtCommit:
			if inTx && len(tables) > 0 {
				return Event{Kind: CommitAttempt, Tables: tables}
			}
			inTx, tables = false, nil
		case stmtRollback:
			inTx, tables = false, nil
		default:
			tables = union(tables, s.writes)
		}
	}
	if !inTx && len(tables) > 0 {
		return Event{Kind: CommitAttempt, Tables: tables}
	}
	return Event{}
}

// execute is an extended-protocol Execute. An explicit COMMIT sent this way is a commit attempt at once; a write
// outside a transaction block commits at the next Sync.
func (c *Conn) execute(s statement) Event {
	c.pending = append(c.pending, &unit{stmts: []statement{s}})
	if s.kind == stmtCommit && c.status == statusInTx {
		if tables := c.pendingWrites(c.writes); len(tables) > 0 {
			return Event{Kind: CommitAttempt, Tables: tables}
		}
	}
	return Event{}
}

// sync ends an extended-protocol batch: outside a transaction block it commits the batch's implicit transaction.
func (c *Conn) sync() Event {
	var batch []*unit
	for i := len(c.pending) - 1; i >= 0 && !c.pending[i].sync; i-- {
		batch = append(batch, c.pending[i])
	}
	c.pending = append(c.pending, &unit{sync: true})
	if c.status != statusIdle {
		return Event{}
	}
	var tables []string
	for _, u := range batch {
		for _, s := range u.stmts {
			if s.kind == stmtBegin {
				return Event{} // the batch opened a transaction block: this Sync commits nothing
			}
			tables = union(tables, s.writes)
		}
	}
	if len(tables) > 0 {
		return Event{Kind: CommitAttempt, Tables: tables}
	}
	return Event{}
}

// pendingWrites is base plus every table the statements still waiting for their answer will write.
func (c *Conn) pendingWrites(base []string) []string {
	tables := slices.Clone(base)
	for _, u := range c.pending {
		for _, s := range u.stmts[u.next:] {
			tables = union(tables, s.writes)
		}
	}
	return tables
}

// Backend reads one whole message from the server.
func (c *Conn) Backend(msg []byte) Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lost || len(msg) == 0 {
		return Event{}
	}
	if c.awaitAnswer {
		c.awaitAnswer = false
		if msg[0] != 'N' {
			c.lost = true
			return Event{Kind: Encrypted}
		}
		return Event{}
	}
	body := msg[typedHeaderLen:]
	switch msg[0] {
	case msgCommandComplete:
		c.completed(cstring(body))
	case msgEmptyQuery:
		c.completed("")
	case msgPortalSuspended:
		c.popExecute()
	case msgErrorResponse:
		return c.errorResponse(body)
	case msgReadyForQuery:
		if len(body) > 0 {
			return c.ready(body[0])
		}
	}
	return Event{}
}

// completed applies a CommandComplete (or EmptyQueryResponse) to the statement it answers.
func (c *Conn) completed(tag string) {
	u := c.head()
	if u == nil {
		return
	}
	if u.next < len(u.stmts) {
		s := u.stmts[u.next]
		if len(s.writes) > 0 && wroteRows(tag) {
			c.writes = union(c.writes, s.writes)
		}
		u.next++
	}
	switch tag {
	case "COMMIT":
		c.rolledBack = false
	case "ROLLBACK", "PREPARE TRANSACTION":
		c.rolledBack = true
	}
	if !u.simple {
		c.popExecute()
	}
}

// errorResponse notes a failed statement. In the extended protocol the server then skips everything up to the Sync.
func (c *Conn) errorResponse(body []byte) Event {
	c.failed = true
	if u := c.head(); u != nil && !u.simple {
		for len(c.pending) > 0 && !c.pending[0].sync {
			c.pending = c.pending[1:]
		}
	}
	severity, text := errorFields(body)
	if severity == "FATAL" || severity == "PANIC" {
		return Event{Kind: Fatal, Text: text}
	}
	return Event{}
}

// ready is ReadyForQuery: one Query or one Sync is fully answered. Back outside a transaction block, what the
// transaction wrote has committed unless it failed or rolled back.
func (c *Conn) ready(status byte) Event {
	if len(c.pending) > 0 {
		c.pending = c.pending[1:]
	}
	c.status = status
	switch status {
	case statusInTx:
		c.failed = false
		return Event{}
	case statusFailed:
		return Event{}
	}
	committed := !c.failed && !c.rolledBack && len(c.writes) > 0
	tables := c.writes
	c.writes, c.failed, c.rolledBack = nil, false, false
	if committed {
		return Event{Kind: Committed, Tables: tables}
	}
	return Event{}
}

// head is the unit the server is answering now (sync markers are answered by ReadyForQuery only).
func (c *Conn) head() *unit {
	if len(c.pending) == 0 || c.pending[0].sync {
		return nil
	}
	return c.pending[0]
}

func (c *Conn) popExecute() {
	if u := c.head(); u != nil && !u.simple {
		c.pending = c.pending[1:]
	}
}

// wroteRows reports whether a command tag admits that rows may have been written: a write tag with a count of zero
// ("INSERT 0 0", "UPDATE 0") did not write; any other tag of a writing statement (a CTE's "SELECT 1") may have.
func wroteRows(tag string) bool {
	fields := strings.Fields(tag)
	if len(fields) < 2 {
		return true
	}
	switch fields[0] {
	case "INSERT", "UPDATE", "DELETE", "MERGE", "COPY":
		n, err := strconv.Atoi(fields[len(fields)-1])
		return err != nil || n > 0
	}
	return true
}

// errorFields picks the severity (non-localized when given) and the message of an ErrorResponse.
func errorFields(body []byte) (severity, text string) {
	for len(body) > 0 && body[0] != 0 {
		code := body[0]
		var v string
		v, body = cstringRest(body[1:])
		switch code {
		case 'V':
			severity = v
		case 'S':
			if severity == "" {
				severity = v
			}
		case 'M':
			text = v
		}
	}
	return severity, text
}

func cstring(b []byte) string {
	s, _ := cstringRest(b)
	return s
}

// cstringRest splits a NUL-terminated string off the front of b.
func cstringRest(b []byte) (string, []byte) {
	for i, c := range b {
		if c == 0 {
			return string(b[:i]), b[i+1:]
		}
	}
	return string(b), nil
}

// union adds the names in more that a lacks, keeping a's order.
func union(a, more []string) []string {
	for _, t := range more {
		if !slices.Contains(a, t) {
			a = append(a, t)
		}
	}
	return a
}
