package harness

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"msglabs/shared/infra"
	"msglabs/shared/leftover"
	"msglabs/shared/story"
)

// DatabaseURL is the database server's real URL. The first call in a test binary finds the server and logs in
// once; when that fails, the test fails at once with INFRA.
func (e *Env) DatabaseURL() string {
	e.T.Helper()
	ctx, cancel := e.setupCtx()
	defer cancel()
	url, err := database.get(ctx, infra.PostgreSQL, infra.CheckDatabase)
	if err != nil {
		e.failInfra(err)
	}
	return url
}

// registry is this test binary's connection to the leftover registry, opened on first use.
var registry struct {
	once sync.Once
	reg  *leftover.Registry
	err  error
}

// leftovers returns the registry, opening it (and checking the database) on first use; INFRA when it cannot.
func (e *Env) leftovers() *leftover.Registry {
	e.T.Helper()
	url := e.DatabaseURL()
	registry.once.Do(func() {
		ctx, cancel := e.setupCtx()
		defer cancel()
		registry.reg, registry.err = leftover.Open(ctx, url)
	})
	if registry.err != nil {
		e.failInfra(fmt.Errorf("PostgreSQL: cannot keep the record of this test's names: %w", registry.err))
	}
	return registry.reg
}

// register records names as this test's before anything creates them, so a killed test leaves a record behind.
func (e *Env) register(kind leftover.Kind, names ...string) {
	e.T.Helper()
	ctx, cancel := e.setupCtx()
	defer cancel()
	if err := e.leftovers().Register(ctx, kind, names...); err != nil {
		e.failInfra(fmt.Errorf("PostgreSQL: %w", err))
	}
}

// registerQuietly is register for the proxy's goroutines (a name seen in a declare on the wire), which must not
// stop the test: a failure to register is reported, and the test's own cleanup still removes the name.
func (e *Env) registerQuietly(kind leftover.Kind, name string) {
	if registry.reg == nil {
		e.T.Errorf("%s: no leftover registry open to record %s", story.Infra, name)
		return
	}
	ctx, cancel := e.cleanupCtx()
	defer cancel()
	if err := registry.reg.Register(ctx, kind, name); err != nil {
		e.T.Errorf("%s: PostgreSQL: %v", story.Infra, err)
	}
}

// forget deletes the records of names whose objects cleanup removed.
func (e *Env) forget(names []string) {
	if len(names) == 0 || registry.reg == nil {
		return
	}
	ctx, cancel := e.cleanupCtx()
	defer cancel()
	if err := registry.reg.Forget(ctx, names...); err != nil {
		e.T.Errorf("cleanup: %v", err)
	}
}

// maxIdentifier is PostgreSQL's limit on the length of a name, in bytes.
const maxIdentifier = 63

// schemaName derives a schema name from the test's prefix, with suffix ("" for the main schema) at the end, within
// PostgreSQL's 63 bytes: "ml_3fa2c1_t5q0lm_l03_testcrash_9b1e04[_suffix]". The test's part is shortened to fit;
// owner, time, lab and randomness are kept whole.
func schemaName(prefix, suffix string) string {
	parts := strings.Split(strings.ToLower(strings.NewReplacer("-", "_").Replace(prefix)), ".")
	if suffix != "" {
		parts = append(parts, suffix)
	}
	const testPart = 4 // ml, owner, time, lab, test, random
	if len(parts) > testPart {
		over := len(strings.Join(parts, "_")) - maxIdentifier
		if over > 0 {
			parts[testPart] = parts[testPart][:max(0, len(parts[testPart])-over)]
		}
	}
	name := strings.Join(parts, "_")
	return name[:min(len(name), maxIdentifier)]
}

// Schema returns the name of this test's own PostgreSQL schema, creating it on first use. It is dropped (CASCADE) at
// cleanup. Every pool the harness hands out has its search_path set to it, so lab SQL uses plain table names.
func (e *Env) Schema() string {
	e.T.Helper()
	e.schemaMu.Lock()
	defer e.schemaMu.Unlock()
	e.mu.Lock()
	name := e.schema
	e.mu.Unlock()
	if name != "" {
		return name
	}
	name = schemaName(e.prefix, "")
	e.createSchema(name)
	e.mu.Lock()
	e.schema = name
	e.mu.Unlock()
	return name
}

// createSchema registers a schema, then creates it on the test's own pool, and fails the test (INFRA when the server
// is away) if it cannot. Cleanup drops it.
func (e *Env) createSchema(name string) {
	e.T.Helper()
	pool := e.testPool()
	e.register(leftover.Schema, name)
	e.mu.Lock()
	e.schemas = append(e.schemas, name)
	e.mu.Unlock()
	ctx, cancel := e.setupCtx()
	defer cancel()
	if _, err := pool.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{name}.Sanitize()); err != nil {
		var connect *pgconn.ConnectError
		if errors.As(err, &connect) {
			e.failInfra(infra.ExplainDatabase(infra.Endpoint{URL: e.DatabaseURL()}, err))
		}
		e.T.Fatalf("create schema %s: %v", name, err)
	}
}

// testPool is the test's own pool, direct (not through any proxy), with search_path set to the test's schema, made
// on first use: it creates the schemas, serves DB, Exec and the queries, and drops the schemas at cleanup, so that a
// test opens as few database sessions as it can (each one costs the server a process, and a room has thirty).
func (e *Env) testPool() *pgxpool.Pool {
	e.T.Helper()
	e.mu.Lock()
	p := e.pool
	e.mu.Unlock()
	if p != nil {
		return p
	}
	p, err := newPool(e.DatabaseURL(), schemaName(e.prefix, ""))
	if err != nil {
		e.T.Fatalf("database pool: %v", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.pool != nil {
		p.Close()
		return e.pool
	}
	e.pool = p
	return p
}

// DB returns the test's own pool (not through any proxy), on the test's schema: the same pool on every call, closed
// at cleanup. Use it to set up tables and to read what the services did; services get theirs from Process.Pool.
func (e *Env) DB() *pgxpool.Pool {
	e.T.Helper()
	e.Schema()
	return e.testPool()
}

// Exec runs SQL statements on the test's schema (setup of tables, mostly) and fails the test on error.
func (e *Env) Exec(sql string, args ...any) {
	e.T.Helper()
	pool := e.DB()
	ctx, cancel := e.setupCtx()
	defer cancel()
	if _, err := pool.Exec(ctx, sql, args...); err != nil {
		e.T.Fatalf("exec %q: %v", firstLine(sql), err)
	}
}

// Strings runs a query returning one text column and fails the test on error.
func (e *Env) Strings(sql string, args ...any) []string {
	e.T.Helper()
	pool := e.DB()
	ctx, cancel := e.setupCtx()
	defer cancel()
	rows, err := pool.Query(ctx, sql, args...)
	if err != nil {
		e.T.Fatalf("query %q: %v", firstLine(sql), err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		e.T.Fatalf("query %q: %v", firstLine(sql), err)
	}
	return out
}

// Int runs a query returning one integer and fails the test on error.
func (e *Env) Int(sql string, args ...any) int {
	e.T.Helper()
	pool := e.DB()
	ctx, cancel := e.setupCtx()
	defer cancel()
	var n int
	if err := pool.QueryRow(ctx, sql, args...).Scan(&n); err != nil {
		e.T.Fatalf("query %q: %v", firstLine(sql), err)
	}
	return n
}

// poolConns bounds each pool the harness opens: enough for a lab's concurrency, few for thirty attendees at once.
const poolConns = 8

func newPool(rawURL, schema string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(rawURL)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	cfg.MaxConns = poolConns
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open pool: %w", err)
	}
	return pool, nil
}

// dropSchemas removes the test's schemas at cleanup, on the test's own pool (or, when that fails, on a connection of
// their own), and returns those that are gone. The services are stopped by then, so no lock holds the drop for long;
// a crashed service's backends end as PostgreSQL notices their client is gone.
func (e *Env) dropSchemas() []string {
	e.mu.Lock()
	schemas := append([]string(nil), e.schemas...)
	pool := e.pool
	e.mu.Unlock()
	ctx, cancel := e.cleanupCtx()
	defer cancel()
	var dropped []string
	for _, name := range schemas {
		err := errNoPool
		if pool != nil {
			err = leftover.DropSchemaOn(ctx, pool, name)
		}
		if err != nil {
			err = leftover.DropSchema(ctx, database.url, name)
		}
		if err != nil {
			e.T.Errorf("cleanup: %v", err)
			continue
		}
		dropped = append(dropped, name)
	}
	return dropped
}

// errNoPool says the test never opened its pool: its schemas are dropped on a connection of their own.
var errNoPool = errors.New("no test pool")

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}
