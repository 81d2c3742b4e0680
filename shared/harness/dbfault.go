package harness

import (
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// failWritesPrefix starts the names of what FailWrites creates in the test's schema (a sequence, a function and a
// trigger per table).
const failWritesPrefix = "msglabs_fail_"

// WriteFault is a database fault set up by FailWrites.
type WriteFault struct {
	env   *Env
	table string
	n     int
	seq   string // the counter's qualified, quoted name
}

// FailWrites makes the next n write statements (INSERT, UPDATE, DELETE) on table, in the test's schema, fail with an
// error that names the injection, whoever sends them: it is a trigger in the database, so no code path can dodge it.
// The failed statement's transaction is aborted, as with any error. Calling FailWrites again for the same table
// starts a new count. The table must exist.
func (e *Env) FailWrites(table string, n int) *WriteFault {
	e.T.Helper()
	schema := e.Schema()
	name := failWritesPrefix + strings.ToLower(table)
	if len(name) > 63 {
		name = name[:63]
	}
	f := &WriteFault{env: e, table: table, n: n, seq: pgx.Identifier{schema, name}.Sanitize()}
	fn := pgx.Identifier{schema, name}.Sanitize()
	target := pgx.Identifier{schema, table}.Sanitize()
	e.Exec(fmt.Sprintf(`
CREATE SEQUENCE IF NOT EXISTS %[1]s;
ALTER SEQUENCE %[1]s RESTART WITH 1;
CREATE OR REPLACE FUNCTION %[2]s() RETURNS trigger LANGUAGE plpgsql AS $body$
BEGIN
	IF nextval('%[1]s') <= %[4]d THEN
		RAISE EXCEPTION 'injected fault: the test made this write to %% fail (env.FailWrites, %% of %[4]d)',
			TG_TABLE_NAME, currval('%[1]s');
	END IF;
	RETURN NULL;
END
$body$;
DROP TRIGGER IF EXISTS %[5]s ON %[3]s;
CREATE TRIGGER %[5]s BEFORE INSERT OR UPDATE OR DELETE ON %[3]s FOR EACH STATEMENT EXECUTE FUNCTION %[2]s()`,
		f.seq, fn, target, n, pgx.Identifier{name}.Sanitize()))
	e.Log("test", "the next %d write(s) to %s will fail (injected: a trigger in the database)", n, table)
	return f
}

// Failed reports how many writes the fault has failed so far.
func (f *WriteFault) Failed() int {
	f.env.T.Helper()
	return f.env.Int(fmt.Sprintf(`SELECT CASE WHEN is_called THEN least(last_value, %d) ELSE 0 END FROM %s`, f.n, f.seq))
}
