package harness

import (
	"regexp"
	"strings"
)

// ExtraSchema creates another PostgreSQL schema for this test, next to Schema(): a second "partition" whose tables
// share no transaction with the first one's unless the code opens one across both (labs about partitioned stores
// never do). Its name is built like the test schema's, with "_" + suffix at the end, e.g. "…_9b1e04_data", so it is
// unique to the test and registered like it; it is dropped (CASCADE) when the test ends. Pools from DB and Process.Pool still search the test's own schema:
// address the extra schema's tables by qualified name (pgx.Identifier{schema, "table"}.Sanitize()).
func (e *Env) ExtraSchema(suffix string) string {
	e.T.Helper()
	suffix = schemaSafe.ReplaceAllString(strings.ToLower(suffix), "_")
	e.Schema()
	name := schemaName(e.prefix, suffix)
	e.createSchema(name)
	return name
}

var schemaSafe = regexp.MustCompile(`[^a-z0-9_]+`)
