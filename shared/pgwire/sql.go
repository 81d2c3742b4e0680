package pgwire

import "strings"

// stmtKind is what a statement does to the transaction around it.
type stmtKind int

const (
	stmtOther    stmtKind = iota
	stmtBegin             // BEGIN, START TRANSACTION
	stmtCommit            // COMMIT, END
	stmtRollback          // ROLLBACK, ABORT (not ROLLBACK TO SAVEPOINT)
)

// statement is one SQL statement as far as transactions are concerned: its kind and the tables it writes.
type statement struct {
	kind   stmtKind
	writes []string
}

// parse splits SQL text into its statements (at semicolons outside literals, quoted names and comments) and reads
// each one's kind and the tables it writes: INSERT INTO, UPDATE, DELETE FROM, MERGE INTO, COPY … FROM and TRUNCATE,
// anywhere in the statement (a CTE's INSERT counts). It returns at least one statement (an empty one for empty text).
func parse(text string) []statement {
	var out []statement
	for _, words := range splitStatements(lex(text)) {
		out = append(out, classify(words))
	}
	if len(out) == 0 {
		out = append(out, statement{})
	}
	return out
}

// token is a word of SQL: a keyword or name (lower-cased unless it was quoted), or one punctuation character.
type token struct {
	text   string
	quoted bool // a "quoted identifier"
	punct  bool
}

func (t token) is(keyword string) bool { return !t.quoted && !t.punct && t.text == keyword }

func splitStatements(toks []token) [][]token {
	var out [][]token
	var cur []token
	for _, t := range toks {
		if t.punct && t.text == ";" {
			if len(cur) > 0 {
				out = append(out, cur)
			}
			cur = nil
			continue
		}
		cur = append(cur, t)
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

func classify(w []token) statement {
	s := statement{writes: writtenTables(w)}
	switch {
	case w[0].is("begin"), w[0].is("start") && len(w) > 1 && w[1].is("transaction"):
		s.kind = stmtBegin
	case w[0].is("commit") || w[0].is("end"):
		if !(len(w) > 1 && w[1].is("prepared")) {
			s.kind = stmtCommit
		}
	case w[0].is("rollback") || w[0].is("abort"):
		if !(len(w) > 1 && (w[1].is("to") || w[1].is("prepared")) || len(w) > 2 && w[2].is("to")) {
			s.kind = stmtRollback
		}
	}
	return s
}

// writtenTables finds the targets of the writing clauses in one statement.
func writtenTables(w []token) []string {
	var tables []string
	add := func(i int) {
		if name, ok := tableAt(w, i); ok {
			tables = union(tables, []string{name})
		}
	}
	for i := range w {
		switch {
		case w[i].is("insert") && at(w, i+1, "into"), w[i].is("merge") && at(w, i+1, "into"):
			add(i + 2)
		case w[i].is("update") && opensStatement(w, i):
			add(skip(w, i+1, "only"))
		case w[i].is("delete") && at(w, i+1, "from"):
			add(skip(w, i+2, "only"))
		case w[i].is("truncate"):
			for j := skip(w, skip(w, i+1, "table"), "only"); ; {
				name, ok := tableAt(w, j)
				if !ok {
					break
				}
				tables = union(tables, []string{name})
				j = nameEnd(w, j) + 1
				if !(j < len(w) && w[j].punct && w[j].text == ",") {
					break
				}
				j = skip(w, j+1, "only")
			}
		case w[i].is("copy") && copiesIn(w[i+1:]):
			add(i + 1)
		}
	}
	return tables
}

// opensStatement reports whether w[i] stands where a statement begins: first, or first inside parentheses (a CTE),
// so that FOR UPDATE and DO UPDATE are not taken for an UPDATE.
func opensStatement(w []token, i int) bool { return i == 0 || w[i-1].punct && w[i-1].text == "(" }

// copiesIn reports whether a COPY statement's rest reads into its table (COPY t FROM …), not out of it.
func copiesIn(rest []token) bool {
	for _, t := range rest {
		if t.is("from") {
			return true
		}
		if t.is("to") {
			return false
		}
	}
	return false
}

func at(w []token, i int, keyword string) bool { return i < len(w) && w[i].is(keyword) }

func skip(w []token, i int, keyword string) int {
	if at(w, i, keyword) {
		return i + 1
	}
	return i
}

// tableAt reads a possibly schema-qualified name starting at w[i] and returns its last part.
func tableAt(w []token, i int) (string, bool) {
	if i >= len(w) || w[i].punct {
		return "", false
	}
	end := nameEnd(w, i)
	return w[end].text, true
}

// nameEnd is the index of the last part of the (possibly qualified) name starting at w[i].
func nameEnd(w []token, i int) int {
	for i+2 < len(w) && w[i+1].punct && w[i+1].text == "." && !w[i+2].punct {
		i += 2
	}
	return i
}

// lex turns SQL text into tokens, skipping whitespace, comments, string literals (also E'…' and dollar-quoted) and
// numbers. Quoted identifiers keep their case; other words are lower-cased.
func lex(s string) []token {
	var out []token
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f':
			i++
		case c == '-' && i+1 < len(s) && s[i+1] == '-':
			i = lineEnd(s, i)
		case c == '/' && i+1 < len(s) && s[i+1] == '*':
			i = blockCommentEnd(s, i)
		case c == '\'':
			i = quotedEnd(s, i+1, '\'', false)
		case (c == 'e' || c == 'E') && i+1 < len(s) && s[i+1] == '\'':
			i = quotedEnd(s, i+2, '\'', true)
		case c == '"':
			end := quotedEnd(s, i+1, '"', false)
			out = append(out, token{text: strings.ReplaceAll(s[i+1:max(i+1, end-1)], `""`, `"`), quoted: true})
			i = end
		case c == '$':
			i = dollarEnd(s, i)
		case isWordStart(c):
			j := i + 1
			for j < len(s) && isWordPart(s[j]) {
				j++
			}
			out = append(out, token{text: strings.ToLower(s[i:j])})
			i = j
		case c >= '0' && c <= '9':
			for i < len(s) && (isWordPart(s[i]) || s[i] == '.') {
				i++
			}
		default:
			out = append(out, token{text: string(c), punct: true})
			i++
		}
	}
	return out
}

func isWordStart(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

func isWordPart(c byte) bool { return isWordStart(c) || c >= '0' && c <= '9' || c == '$' }

func lineEnd(s string, i int) int {
	if j := strings.IndexByte(s[i:], '\n'); j >= 0 {
		return i + j + 1
	}
	return len(s)
}

// blockCommentEnd skips a /* comment */, which may nest.
func blockCommentEnd(s string, i int) int {
	depth := 0
	for i < len(s) {
		switch {
		case strings.HasPrefix(s[i:], "/*"):
			depth++
			i += 2
		case strings.HasPrefix(s[i:], "*/"):
			depth--
			i += 2
			if depth == 0 {
				return i
			}
		default:
			i++
		}
	}
	return len(s)
}

// quotedEnd returns the index just past the closing quote, where a doubled quote stands for itself (and, with
// backslashes, \x escapes the next character).
func quotedEnd(s string, i int, q byte, backslashes bool) int {
	for i < len(s) {
		switch {
		case backslashes && s[i] == '\\':
			i += 2
		case s[i] == q && i+1 < len(s) && s[i+1] == q:
			i += 2
		case s[i] == q:
			return i + 1
		default:
			i++
		}
	}
	return len(s)
}

// dollarEnd skips a dollar-quoted string ($$…$$ or $tag$…$tag$), or a parameter ($1), or a lone $.
func dollarEnd(s string, i int) int {
	j := i + 1
	if j < len(s) && s[j] >= '0' && s[j] <= '9' {
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		return j
	}
	for j < len(s) && (isWordStart(s[j]) || s[j] >= '0' && s[j] <= '9') {
		j++
	}
	if j >= len(s) || s[j] != '$' {
		return i + 1
	}
	tag := s[i : j+1]
	if k := strings.Index(s[j+1:], tag); k >= 0 {
		return j + 1 + k + len(tag)
	}
	return len(s)
}
