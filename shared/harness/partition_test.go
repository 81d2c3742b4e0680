package harness

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// An extra schema is the test's own, usable by qualified name next to the test schema, and gone after the test.
func TestExtraSchema(t *testing.T) {
	var name, main string
	t.Run("inner", func(t *testing.T) {
		env := New(t)
		main = env.Schema()
		name = env.ExtraSchema("Data-Partition")
		random := main[strings.LastIndexByte(main, '_'):] // the test schema's randomness: the extra one keeps it
		if !strings.HasSuffix(name, random+"_data_partition") || name[:20] != main[:20] || len(name) > maxIdentifier {
			t.Fatalf("extra schema %q does not carry the test schema's owner, time and randomness (test schema %q)", name, main)
		}
		table := pgx.Identifier{name, "charges"}.Sanitize()
		env.Exec(`CREATE TABLE ` + table + ` (id text PRIMARY KEY)`)
		env.Exec(`CREATE TABLE charges (id text PRIMARY KEY)`) // same name in the test schema: a different table
		env.Exec(`INSERT INTO ` + table + ` VALUES ('c-1')`)
		if n := env.Int(`SELECT count(*) FROM ` + table); n != 1 {
			t.Fatalf("%d rows in the extra schema's table, want 1", n)
		}
		if n := env.Int(`SELECT count(*) FROM charges`); n != 0 {
			t.Fatalf("%d rows in the test schema's table, want 0", n)
		}
	})
	env := New(t)
	ctx := context.Background()
	for _, s := range []string{name, main} {
		var n int
		if err := env.DB().QueryRow(ctx, `SELECT count(*) FROM pg_namespace WHERE nspname = $1`, s).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("schema %s still exists after its test ended", s)
		}
	}
}
