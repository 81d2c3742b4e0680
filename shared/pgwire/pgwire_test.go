package pgwire_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"msglabs/shared/infra"
	"msglabs/shared/pgwire"
)

const testTimeout = 10 * time.Second

// relay forwards one database connection message by message, telling a pgwire.Conn about each, and keeps the
// events it reports.
type relay struct {
	mu     sync.Mutex
	events []string
}

func (r *relay) add(ev pgwire.Event) {
	var kind string
	switch ev.Kind {
	case pgwire.CommitAttempt:
		kind = "attempt"
	case pgwire.Committed:
		kind = "committed"
	case pgwire.Encrypted:
		kind = "encrypted"
	case pgwire.Terminate:
		kind = "terminate"
	default:
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, kind+" "+strings.Join(ev.Tables, ","))
}

// take returns the events so far and forgets them.
func (r *relay) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.events
	r.events = nil
	return out
}

// waitFor waits (bounded) until event has been reported; the relay sees a message just after the client sent it.
func (r *relay) waitFor(t *testing.T, event string) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for time.Now().Before(deadline) {
		r.mu.Lock()
		seen := slices.Contains(r.events, event)
		r.mu.Unlock()
		if seen {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("the relay never reported %q", event)
}

func (r *relay) pipe(dst, src net.Conn, c *pgwire.Conn, fromServer bool) {
	defer dst.Close()
	var buf []byte
	chunk := make([]byte, 32*1024)
	for {
		n, err := src.Read(chunk)
		buf = append(buf, chunk[:n]...)
		for {
			size := c.Split(fromServer, buf)
			if size < 0 {
				_, _ = dst.Write(buf)
				buf = nil
				break
			}
			if size == 0 {
				break
			}
			if fromServer {
				r.add(c.Backend(buf[:size]))
			} else {
				r.add(c.Frontend(buf[:size]))
			}
			if _, werr := dst.Write(buf[:size]); werr != nil {
				return
			}
			buf = buf[size:]
		}
		if err != nil {
			return
		}
	}
}

// connect opens a pgx connection through a relay to the test database, on a schema of its own with two tables.
func connect(t *testing.T, sslmode string) (*pgx.Conn, *relay) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	eps, err := infra.Resolve(ctx)
	if err != nil {
		t.Skipf("no database: %v", err)
	}
	target, err := infra.HostPort(eps.Database.URL)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	r := &relay{}
	go func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial("tcp", target)
			if err != nil {
				client.Close()
				return
			}
			c := pgwire.NewConn()
			go r.pipe(server, client, c, false)
			go r.pipe(client, server, c, true)
		}
	}()
	u, err := url.Parse(eps.Database.URL)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = ln.Addr().String()
	q := u.Query()
	q.Set("sslmode", sslmode)
	u.RawQuery = q.Encode()
	schema := fmt.Sprintf("pgwire_test_%d", time.Now().UnixNano())
	cfg, err := pgx.ParseConfig(u.String())
	if err != nil {
		t.Fatal(err)
	}
	cfg.RuntimeParams["search_path"] = schema
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("connect through the relay: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		_ = conn.Close(ctx)
		// Dropped on a connection of its own, not through the relay: the test may have left its connection in a
		// failed transaction, and the schema must go either way.
		direct, err := pgx.Connect(ctx, eps.Database.URL)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer direct.Close(ctx)
		if _, err := direct.Exec(ctx, "DROP SCHEMA IF EXISTS "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	mustExec(t, conn, "CREATE SCHEMA "+schema)
	mustExec(t, conn, `CREATE TABLE charges (id text PRIMARY KEY, cents int); CREATE TABLE "Inbox" (id text PRIMARY KEY)`)
	r.take()
	return conn, r
}

func mustExec(t *testing.T, conn *pgx.Conn, sql string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func expect(t *testing.T, r *relay, what string, want ...string) {
	t.Helper()
	if got := r.take(); !slices.Equal(got, want) {
		t.Errorf("%s: events %q, want %q", what, got, want)
	}
}

// The transactions pgx really runs, as the server answers them: autocommit statements in both protocols, explicit
// transactions that commit, roll back or fail, an insert that wrote nothing, a CTE.
func TestConnFollowsRealTransactions(t *testing.T) {
	conn, r := connect(t, "disable")
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()

	mustExec(t, conn, `INSERT INTO charges (id, cents) VALUES ($1, $2)`, "o-1", 100)
	expect(t, r, "autocommit insert (extended protocol)", "attempt charges", "committed charges")
	mustExec(t, conn, `INSERT INTO charges (id, cents) VALUES ($1, $2)`, "o-2", 100)
	expect(t, r, "the same statement again (cached)", "attempt charges", "committed charges")

	mustExec(t, conn, `INSERT INTO charges (id, cents) VALUES ('o-3', 1); INSERT INTO "Inbox" VALUES ('m-3')`)
	expect(t, r, "two statements in one simple query", `attempt charges,Inbox`, `committed charges,Inbox`)

	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO "Inbox" (id) VALUES ($1) ON CONFLICT (id) DO NOTHING`, "m-4"); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `UPDATE charges SET cents = cents + $1 WHERE id = $2`, 1, "o-1"); err != nil {
		t.Fatal(err)
	}
	expect(t, r, "statements inside a transaction block")
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	expect(t, r, "explicit commit", "attempt Inbox,charges", "committed Inbox,charges")

	tx, _ = conn.Begin(ctx)
	_, _ = tx.Exec(ctx, `INSERT INTO charges (id, cents) VALUES ($1, 1)`, "o-5")
	_ = tx.Rollback(ctx)
	expect(t, r, "rollback")

	tx, _ = conn.Begin(ctx)
	_, _ = tx.Exec(ctx, `INSERT INTO charges (id, cents) VALUES ($1, 1)`, "o-6")
	if _, err := tx.Exec(ctx, `INSERT INTO charges (id, cents) VALUES ($1, 1)`, "o-6"); err == nil {
		t.Fatal("a duplicate key was accepted")
	}
	if err := tx.Commit(ctx); !errors.Is(err, pgx.ErrTxCommitRollback) {
		t.Fatalf("commit of a failed transaction: %v", err)
	}
	expect(t, r, "commit of a failed transaction")

	if _, err := conn.Exec(ctx, `INSERT INTO charges (id, cents) VALUES ($1, 1)`, "o-1"); err == nil {
		t.Fatal("a duplicate key was accepted")
	}
	expect(t, r, "a failed autocommit insert", "attempt charges")

	mustExec(t, conn, `INSERT INTO "Inbox" (id) VALUES ($1) ON CONFLICT DO NOTHING`, "m-4")
	expect(t, r, "an insert that wrote nothing", "attempt Inbox")

	rows, err := conn.Query(ctx, `WITH ins AS (INSERT INTO charges (id, cents) VALUES ($1, 7) RETURNING id) SELECT id FROM ins`, "o-7")
	if err != nil {
		t.Fatal(err)
	}
	rows.Close()
	expect(t, r, "a CTE that inserts", "attempt charges", "committed charges")

	tx, _ = conn.Begin(ctx)
	var n int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM (SELECT id FROM charges FOR UPDATE SKIP LOCKED) c`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	_ = tx.Commit(ctx)
	expect(t, r, "a transaction that only locked rows")

	ctx2, cancel2 := context.WithTimeout(context.Background(), testTimeout)
	defer cancel2()
	_ = conn.Close(ctx2)
	r.waitFor(t, "terminate ")
	expect(t, r, "closing the connection", "terminate ")
}

// With TLS the conversation cannot be followed, and the Conn says so instead of misreading it.
func TestConnGivesUpOnTLS(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	var ssl string
	conn, r := connect(t, "prefer")
	if err := conn.QueryRow(ctx, "SHOW ssl").Scan(&ssl); err != nil {
		t.Fatal(err)
	}
	if ssl != "on" {
		t.Skip("the server does not offer TLS")
	}
	mustExec(t, conn, `INSERT INTO charges (id, cents) VALUES ($1, 1)`, "o-1")
	if got := r.take(); len(got) != 0 {
		t.Fatalf("events %q read from an encrypted conversation", got)
	}
}

func TestSplitAndStatements(t *testing.T) {
	c := pgwire.NewConn()
	startup := []byte{0, 0, 0, 8, 4, 210, 22, 47} // SSLRequest
	if n := c.Split(false, startup[:3]); n != 0 {
		t.Fatalf("split of a partial start-up message = %d", n)
	}
	if n := c.Split(false, startup); n != 8 {
		t.Fatalf("split of an SSLRequest = %d", n)
	}
	c.Frontend(startup)
	if n := c.Split(true, []byte("N")); n != 1 {
		t.Fatalf("the answer to an SSLRequest is one byte, split = %d", n)
	}
	if ev := c.Backend([]byte("N")); ev.Kind != pgwire.None {
		t.Fatalf("refused TLS reported as %v", ev.Kind)
	}
	if n := c.Split(false, []byte{0, 0, 0, 0, 1}); n != -1 {
		t.Fatalf("a 0-byte start-up message was not refused: %d", n)
	}
}

// A CancelRequest comes on a connection of its own, which the server closes once it has read it: that end is the
// client's doing (pgx sends one whenever a context ends a query), so it reads as the client's goodbye.
func TestCancelRequestIsTheClientsGoodbye(t *testing.T) {
	msg := []byte{0, 0, 0, 16, 0x04, 0xd2, 0x16, 0x2e, 0, 0, 0, 1, 0, 0, 0, 2} // length 16, code 80877102, pid, key
	c := pgwire.NewConn()
	if n := c.Split(false, msg); n != len(msg) {
		t.Fatalf("Split took %d bytes of a %d-byte CancelRequest", n, len(msg))
	}
	if ev := c.Frontend(msg); ev.Kind != pgwire.Terminate {
		t.Fatalf("a CancelRequest was read as event kind %v, want Terminate (the server's close of it is asked for)", ev.Kind)
	}
}
