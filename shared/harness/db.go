package harness

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Schema returns the name of this test's own PostgreSQL schema, creating it on first use. It is dropped (CASCADE) at
// cleanup. Every pool the harness hands out has its search_path set to it, so lab SQL uses plain table names.
func (e *Env) Schema() string {
	e.T.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.schema != "" {
		return e.schema
	}
	name := strings.ToLower(strings.NewReplacer(".", "_", "-", "_").Replace(e.prefix))
	if len(name) > 63 {
		name = name[:57] + name[len(name)-6:]
	}
	e.createSchema(name)
	e.schema = name
	return name
}

// createSchema creates a schema on a connection of its own and fails the test (INFRA when the server is away) if it
// cannot. Dropping it is the caller's business.
func (e *Env) createSchema(name string) {
	e.T.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, e.DatabaseURL())
	if err != nil {
		e.T.Fatalf("INFRA: connect to PostgreSQL: %v (is it running? `make doctor`)", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{name}.Sanitize()); err != nil {
		e.T.Fatalf("create schema %s: %v", name, err)
	}
}

// DB returns a pool for the test itself (not through any proxy), on the test's schema. Use it to set up tables and
// to read what the services did; services get theirs from Process.Pool.
func (e *Env) DB() *pgxpool.Pool {
	e.T.Helper()
	schema := e.Schema()
	pool, err := newPool(e.DatabaseURL(), schema)
	if err != nil {
		e.T.Fatalf("database pool: %v", err)
	}
	e.mu.Lock()
	e.pools = append(e.pools, pool)
	e.mu.Unlock()
	return pool
}

// Exec runs SQL statements on the test's schema (setup of tables, mostly) and fails the test on error.
func (e *Env) Exec(sql string, args ...any) {
	e.T.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	pool := e.sharedPool()
	if _, err := pool.Exec(ctx, sql, args...); err != nil {
		e.T.Fatalf("exec %q: %v", firstLine(sql), err)
	}
}

// sharedPool is one lazily made test pool, for Exec and queries by the harness.
func (e *Env) sharedPool() *pgxpool.Pool {
	e.T.Helper()
	e.mu.Lock()
	p := e.pool
	e.mu.Unlock()
	if p != nil {
		return p
	}
	p = e.DB()
	e.mu.Lock()
	if e.pool == nil {
		e.pool = p
	}
	p = e.pool
	e.mu.Unlock()
	return p
}

// Strings runs a query returning one text column and fails the test on error.
func (e *Env) Strings(sql string, args ...any) []string {
	e.T.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	rows, err := e.sharedPool().Query(ctx, sql, args...)
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
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	var n int
	if err := e.sharedPool().QueryRow(ctx, sql, args...).Scan(&n); err != nil {
		e.T.Fatalf("query %q: %v", firstLine(sql), err)
	}
	return n
}

func newPool(rawURL, schema string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(rawURL)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	cfg.MaxConns = 8
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open pool: %w", err)
	}
	return pool, nil
}

// dropSchema removes the test's schema. Backends still attached to it (a crashed service's) are terminated first so
// the drop cannot wait on their locks.
func (e *Env) dropSchema(name string) {
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, e.DatabaseURL())
	if err != nil {
		e.T.Errorf("cleanup: connect to drop schema %s: %v", name, err)
		return
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "SET lock_timeout = '3s'"); err != nil {
		e.T.Errorf("cleanup: %v", err)
	}
	if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{name}.Sanitize()+" CASCADE"); err != nil {
		e.T.Errorf("cleanup: drop schema %s: %v", name, err)
	}
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}
