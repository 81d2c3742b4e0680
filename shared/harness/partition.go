package harness

import (
	"regexp"
	"strings"
)

// ExtraSchema creates another PostgreSQL schema for this test, next to Schema(): a second "partition" whose tables
// share no transaction with the first one's unless the code opens one across both (labs about partitioned stores
// never do). Its name is the test schema's name with "_" + suffix, e.g. "…_3fa2c1_data", so it is unique to the test;
// it is dropped (CASCADE) when the test ends. Pools from DB and Process.Pool still search the test's own schema:
// address the extra schema's tables by qualified name (pgx.Identifier{schema, "table"}.Sanitize()).
func (e *Env) ExtraSchema(suffix string) string {
	e.T.Helper()
	suffix = schemaSafe.ReplaceAllString(strings.ToLower(suffix), "_")
	base := e.Schema()
	if room := 63 - len(suffix) - 1; len(base) > room {
		base = base[:room]
	}
	name := base + "_" + suffix
	e.createSchema(name)
	e.T.Cleanup(func() { e.dropSchema(name) })
	return name
}

var schemaSafe = regexp.MustCompile(`[^a-z0-9_]+`)
