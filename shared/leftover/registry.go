package leftover

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Kind says what a registered name is.
type Kind string

// The kinds of names.
const (
	Broker Kind = "broker" // a queue, an exchange or both: removing it deletes both
	Schema Kind = "schema" // a PostgreSQL schema: removing it drops it with everything in it
)

// Record is one registered name.
type Record struct {
	Name    string
	Kind    Kind
	Owner   string
	Host    string
	PID     int
	Started string // the process's start time (Linux: /proc/PID/stat field 22), to tell a reused pid
	Created time.Time
}

// registryDDL creates the registry on first use. It runs under an advisory lock: thirty test binaries starting at
// once must not race on CREATE ... IF NOT EXISTS (which is not safe against a concurrent twin).
const registryDDL = `
CREATE SCHEMA IF NOT EXISTS msglabs;
CREATE TABLE IF NOT EXISTS msglabs.leftovers (
	name    text PRIMARY KEY,
	kind    text NOT NULL,
	owner   text NOT NULL,
	host    text NOT NULL,
	pid     integer NOT NULL,
	started text NOT NULL DEFAULT '',
	created timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS leftovers_owner ON msglabs.leftovers (owner);`

// registryLock is the advisory lock key that serialises creating the registry ("msglabs" in ASCII).
const registryLock = 0x6d73676c616273

// maxConns bounds the registry's pool: registering is one short statement, rarely concurrent.
const maxConns = 4

// Registry is the table of registered names in the kit's database. It is safe for concurrent use; Close it when done.
type Registry struct {
	pool  *pgxpool.Pool
	self  Record // owner, host, pid and start of this process, stamped on every Register
	owner string
}

// Open connects to the kit's database at databaseURL and creates the registry there if it does not exist yet. Its
// session commits asynchronously (synchronous_commit off): a registered name is visible to every other session the
// moment Register returns and survives the test binary being killed; only a crash of PostgreSQL itself within a
// fraction of a second could forget it.
func Open(ctx context.Context, databaseURL string) (*Registry, error) {
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", err)
	}
	cfg.ConnConfig.RuntimeParams["synchronous_commit"] = "off"
	cfg.ConnConfig.RuntimeParams["application_name"] = "msglabs leftovers"
	cfg.MaxConns = maxConns
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open the leftover registry: %w", err)
	}
	if err := create(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	owner := Owner()
	return &Registry{pool: pool, owner: owner,
		self: Record{Owner: owner, Host: hostname(), PID: os.Getpid(), Started: processStart(os.Getpid())}}, nil
}

func create(ctx context.Context, pool *pgxpool.Pool) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(registryLock)); err != nil {
			return fmt.Errorf("lock the leftover registry: %w", err)
		}
		if _, err := tx.Exec(ctx, registryDDL); err != nil {
			return fmt.Errorf("create the leftover registry: %w", err)
		}
		return nil
	})
}

// Close closes the registry's connections.
func (r *Registry) Close() { r.pool.Close() }

// Owner is the owner id this registry stamps on what it registers.
func (r *Registry) Owner() string { return r.owner }

// Register records names of one kind as this process's, before they are created. Registering a name twice is fine.
func (r *Registry) Register(ctx context.Context, kind Kind, names ...string) error {
	if len(names) == 0 {
		return nil
	}
	_, err := r.pool.Exec(ctx, `
		INSERT INTO msglabs.leftovers (name, kind, owner, host, pid, started)
		SELECT unnest($1::text[]), $2, $3, $4, $5, $6
		ON CONFLICT (name) DO NOTHING`,
		names, string(kind), r.self.Owner, r.self.Host, r.self.PID, r.self.Started)
	if err != nil {
		return fmt.Errorf("register %s: %w", strings.Join(names, ", "), err)
	}
	return nil
}

// Forget deletes the records of names whose objects are gone.
func (r *Registry) Forget(ctx context.Context, names ...string) error {
	if len(names) == 0 {
		return nil
	}
	if _, err := r.pool.Exec(ctx, `DELETE FROM msglabs.leftovers WHERE name = ANY($1)`, names); err != nil {
		return fmt.Errorf("forget %d name(s): %w", len(names), err)
	}
	return nil
}

// list returns the records matching a condition on the table (a WHERE clause using args), oldest first.
func (r *Registry) list(ctx context.Context, where string, args ...any) ([]Record, error) {
	rows, err := r.pool.Query(ctx, `SELECT name, kind, owner, host, pid, started, created FROM msglabs.leftovers
		WHERE `+where+` ORDER BY created, name`, args...)
	if err != nil {
		return nil, fmt.Errorf("list leftovers: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Record, error) {
		var rec Record
		var kind string
		err := row.Scan(&rec.Name, &kind, &rec.Owner, &rec.Host, &rec.PID, &rec.Started, &rec.Created)
		rec.Kind = Kind(kind)
		return rec, err
	})
	if err != nil {
		return nil, fmt.Errorf("list leftovers: %w", err)
	}
	return out, nil
}
