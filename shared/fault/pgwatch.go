package fault

import (
	"slices"
	"sync"

	"msglabs/shared/pgwire"
)

// pgLink follows one database connection of a watched process.
type pgLink struct {
	w    *Watch
	conn *pgwire.Conn

	mu    sync.Mutex
	asked bool   // the client sent Terminate
	said  string // the server's FATAL message, if it sent one
}

// Postgres returns an Inspector for one database connection of the process (use it as Options.Inspect). The
// connection must not use TLS (connect with sslmode=disable), or its triggers cannot see it.
func (w *Watch) Postgres() Inspector { return &pgLink{w: w, conn: pgwire.NewConn()} }

func (l *pgLink) Split(dir Direction, buf []byte) int { return l.conn.Split(dir == Down, buf) }

func (l *pgLink) Inspect(dir Direction, msg []byte) Verdict {
	if dir == Up {
		ev := l.conn.Frontend(msg)
		switch ev.Kind {
		case pgwire.CommitAttempt:
			return l.commit(beforeCommit, ev.Tables)
		case pgwire.Terminate:
			l.mu.Lock()
			l.asked = true
			l.mu.Unlock()
		}
		return Verdict{}
	}
	ev := l.conn.Backend(msg)
	switch ev.Kind {
	case pgwire.Committed:
		return l.commit(afterCommit, ev.Tables)
	case pgwire.Fatal:
		l.mu.Lock()
		l.said = "FATAL: " + ev.Text
		l.mu.Unlock()
	}
	return Verdict{}
}

func (l *pgLink) commit(kind triggerKind, tables []string) Verdict {
	return l.w.event(kind, func(t Trigger) bool { return slices.Contains(tables, t.table) })
}

func (l *pgLink) Ended() (bool, string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.asked, l.said
}
