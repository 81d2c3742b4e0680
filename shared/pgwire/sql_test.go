package pgwire

import (
	"slices"
	"testing"
)

func TestStatementsAndTheTablesTheyWrite(t *testing.T) {
	for _, c := range []struct {
		sql    string
		kinds  []stmtKind
		writes []string
	}{
		{"INSERT INTO charges (id) VALUES ($1)", []stmtKind{stmtOther}, []string{"charges"}},
		{`insert into public."Charges" values (1)`, []stmtKind{stmtOther}, []string{"Charges"}},
		{"UPDATE ONLY s.charges SET x = 1", []stmtKind{stmtOther}, []string{"charges"}},
		{"DELETE FROM charges WHERE id = 'a;b'", []stmtKind{stmtOther}, []string{"charges"}},
		{"SELECT * FROM charges FOR UPDATE SKIP LOCKED", []stmtKind{stmtOther}, nil},
		{"INSERT INTO inbox VALUES (1) ON CONFLICT (id) DO UPDATE SET n = 2", []stmtKind{stmtOther}, []string{"inbox"}},
		{"WITH x AS (UPDATE orders SET a = 1 RETURNING id) SELECT * FROM x", []stmtKind{stmtOther}, []string{"orders"}},
		{"TRUNCATE TABLE a, ONLY b", []stmtKind{stmtOther}, []string{"a", "b"}},
		{"COPY charges (id) FROM STDIN", []stmtKind{stmtOther}, []string{"charges"}},
		{"COPY charges TO STDOUT", []stmtKind{stmtOther}, nil},
		{"MERGE INTO stock s USING x ON true WHEN MATCHED THEN DELETE", []stmtKind{stmtOther}, []string{"stock"}},
		{"begin; insert into a values (E'it\\'s;'); commit", []stmtKind{stmtBegin, stmtOther, stmtCommit}, []string{"a"}},
		{"START TRANSACTION ISOLATION LEVEL SERIALIZABLE", []stmtKind{stmtBegin}, nil},
		{"END", []stmtKind{stmtCommit}, nil},
		{"COMMIT PREPARED 'x'", []stmtKind{stmtOther}, nil},
		{"ROLLBACK TO SAVEPOINT s1", []stmtKind{stmtOther}, nil},
		{"ROLLBACK WORK TO s1", []stmtKind{stmtOther}, nil},
		{"ABORT", []stmtKind{stmtRollback}, nil},
		{"CREATE FUNCTION f() RETURNS trigger AS $body$ BEGIN INSERT INTO log VALUES (1); END $body$ LANGUAGE plpgsql",
			[]stmtKind{stmtOther}, nil},
		{"-- INSERT INTO a\nSELECT /* INSERT INTO b /* nested */ */ $1", []stmtKind{stmtOther}, nil},
		{"", []stmtKind{stmtOther}, nil},
		{"SELECT 1;;", []stmtKind{stmtOther}, nil},
	} {
		stmts := parse(c.sql)
		var kinds []stmtKind
		var writes []string
		for _, s := range stmts {
			kinds = append(kinds, s.kind)
			writes = union(writes, s.writes)
		}
		if !slices.Equal(kinds, c.kinds) || !slices.Equal(writes, c.writes) {
			t.Errorf("%q: kinds %v writes %q, want %v %q", c.sql, kinds, writes, c.kinds, c.writes)
		}
	}
}
