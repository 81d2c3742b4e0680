package story

import (
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode"
)

// How a timeline is folded for a person (String). Full and MSGLABS_VERBOSE show everything.
const (
	// MaxLines bounds a printed timeline, summary lines included; past it the middle is elided.
	MaxLines = 40
	// tailKeep is how many entries before the end (where the test judged) are always printed whole.
	tailKeep = 6
	// repeatWindow is how far back a line may have a twin for it to count as a repeat: cycles of up to this many
	// lines (received, called the gateway, nacked, …) fold.
	repeatWindow = 6
	// minRun is the shortest run of repeats worth folding into one line.
	minRun = 4
	// summaryWidth is how long a set-up summary may get before it counts instead of naming.
	summaryWidth = 180
)

// row is one printed line: an entry, or a line that stands for several (a set-up summary, a folded run).
type row struct {
	at      time.Duration
	actor   string
	text    string
	folded  int    // entries this row stands for; 0 for an entry's own row, -1 for the footer
	first   int    // index of the (first) entry the row stands for
	shape   string // actor, kind and masked text: rows with one shape repeat each other ("" never folds)
	message string // the entry's message id
}

func entryRow(e Entry) row {
	return row{at: e.At, actor: e.Actor, text: e.Text, message: e.Message,
		shape: e.Actor + "\x00" + string(e.Kind) + "\x00" + mask(e.Text)}
}

// fold turns entries into the rows a person reads: set-up blocks summarised (unless showSetUp), runs of repeats
// folded except among the last tailKeep entries that are not set-up, and at most MaxLines rows.
func fold(entries []Entry, showSetUp bool) []row {
	rows := summariseSetUp(entries, showSetUp)
	tail := tailStart(entries)
	for i := range rows {
		if rows[i].first >= tail {
			rows[i].shape = "" // the lines before the verdict print whole
		}
	}
	rows = foldRepeats(rows)
	rows = elide(rows)
	if len(rows) < len(entries) {
		rows = append(rows, row{text: fmt.Sprintf("(set-up and repeats folded: %s=1 prints all %d lines)",
			EnvVerbose, len(entries)), folded: -1})
	}
	return rows
}

// tailStart is the index of the first entry of the tail: the last tailKeep entries that are not set-up, and
// whatever set-up lies between them.
func tailStart(entries []Entry) int {
	seen := 0
	for i := len(entries) - 1; i >= 0; i-- {
		if entries[i].Kind.setUp() {
			continue
		}
		if seen++; seen == tailKeep {
			return i
		}
	}
	return 0
}

// summariseSetUp replaces each block of two or more consecutive set-up entries with one summary row.
func summariseSetUp(entries []Entry, showSetUp bool) []row {
	var rows []row
	for i := 0; i < len(entries); {
		j := i
		for !showSetUp && j < len(entries) && entries[j].Kind.setUp() {
			j++
		}
		if j-i >= 2 {
			rows = append(rows, row{at: entries[i].At, actor: "set-up", text: summary(entries[i:j]), folded: j - i, first: i})
			i = j
			continue
		}
		r := entryRow(entries[i])
		r.first = i
		rows = append(rows, r)
		i++
	}
	return rows
}

// summary words a block of set-up entries: what was declared and bound, and who consumes what.
func summary(block []Entry) string {
	var objects []string
	var consumers consumerList
	seen := map[string]bool{}
	queues, exchanges, bindings := 0, 0, 0
	for _, e := range block {
		b := e.Brief
		if b == "" {
			b = e.Text
		}
		if e.Kind == Consume {
			if e.Brief != "" { // a prefetch has none: the consumer's brief says it
				consumers.add(e.Actor, b)
			}
			continue
		}
		if seen[b] {
			continue
		}
		seen[b] = true
		objects = append(objects, b)
		switch {
		case e.Kind == Bind:
			bindings++
		case strings.HasPrefix(b, "exchange"):
			exchanges++
		default:
			queues++
		}
	}
	named, counts := strings.Join(objects, ", "), counted(queues, exchanges, bindings)
	for _, s := range []string{
		joinParts(named, consumers.String()),
		joinParts(named, consumers.short()),
		joinParts(counts, consumers.String()),
	} {
		if len(s) <= summaryWidth {
			return s
		}
	}
	return joinParts(counts, consumers.short())
}

func joinParts(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "; " + b
}

// consumerList groups the consumers of a set-up block by what they consume, in order of appearance.
type consumerList struct {
	briefs []string
	who    map[string][]string
	n      int
}

func (c *consumerList) add(actor, brief string) {
	if c.who == nil {
		c.who = map[string][]string{}
	}
	if c.who[brief] == nil {
		c.briefs = append(c.briefs, brief)
	}
	c.who[brief] = append(c.who[brief], actor)
	c.n++
}

// String names each group: `billing and shipping consume "order-placed" (manual ack, no prefetch limit)`.
func (c consumerList) String() string {
	parts := make([]string, len(c.briefs))
	for i, b := range c.briefs {
		who := c.who[b]
		verb := " consumes "
		if len(who) > 1 {
			verb = " consume "
		}
		parts[i] = andList(who) + verb + b
	}
	return strings.Join(parts, "; ")
}

// short counts the consumers and names them: "4 consumers (billing, policy, shipping, warehouse)".
func (c consumerList) short() string {
	if c.n == 0 {
		return ""
	}
	var names []string
	for _, b := range c.briefs {
		names = append(names, c.who[b]...)
	}
	sort.Strings(names)
	return plural(c.n, "consumer") + " (" + strings.Join(names, ", ") + ")"
}

func andList(words []string) string {
	if len(words) < 2 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " and " + words[len(words)-1]
}

// counted is the short form of what a set-up block declared: "1 exchange, 5 queues, 2 bindings declared".
func counted(queues, exchanges, bindings int) string {
	var objs []string
	for _, c := range []struct {
		n    int
		word string
	}{{exchanges, "exchange"}, {queues, "queue"}, {bindings, "binding"}} {
		if c.n > 0 {
			objs = append(objs, plural(c.n, c.word))
		}
	}
	if len(objs) == 0 {
		return ""
	}
	return strings.Join(objs, ", ") + " declared"
}

// foldRepeats replaces each run of at least minRun rows that repeat a recent row (same actor, kind and text up to
// ids and numbers) with one row that counts them. A row repeats when its twin is at most repeatWindow rows back, or
// anywhere in the run it would extend (so a line that recurs every ten rounds of a loop stays inside the loop).
func foldRepeats(rows []row) []row {
	repeat := make([]bool, len(rows))
	runStart := -1
	for i, r := range rows {
		if r.shape == "" || r.folded != 0 {
			runStart = -1
			continue
		}
		lo := i - repeatWindow
		if runStart >= 0 {
			lo = runStart - repeatWindow
		}
		for j := max(0, lo); j < i && !repeat[i]; j++ {
			repeat[i] = rows[j].shape == r.shape
		}
		switch {
		case !repeat[i]:
			runStart = -1
		case runStart < 0:
			runStart = i
		}
	}
	var out []row
	for i := 0; i < len(rows); {
		j := i
		for j < len(rows) && repeat[j] {
			j++
		}
		if j > i {
			out = append(out, foldRun(rows[i:j])...)
			i = j
			continue
		}
		out = append(out, rows[i])
		i++
	}
	return out
}

// foldRun folds a run of repeats. A row whose shape occurs only once in the run (another publisher's one message in
// the middle of a loop) is not one of the repeats: it prints in its place, and the repeats on either side fold.
func foldRun(run []row) []row {
	count := map[string]int{}
	for _, r := range run {
		count[r.shape]++
	}
	var out, segment []row
	flush := func() {
		n := wholeCycles(segment)
		if n >= minRun {
			out = append(out, foldedRow(segment[:n]))
			segment = segment[n:]
		}
		out = append(out, segment...)
		segment = nil
	}
	for _, r := range run {
		if count[r.shape] == 1 {
			flush()
			out = append(out, r)
			continue
		}
		segment = append(segment, r)
	}
	flush()
	return out
}

// wholeCycles returns how much of a run to fold so that it holds whole rounds (as many publishes as confirms): the
// run itself, or the run less up to a cycle's worth of rows at its end (they print whole). A run that never evens
// out is folded entire.
func wholeCycles(run []row) int {
	if len(run) == 0 {
		return 0
	}
	kinds := map[string]bool{}
	for _, r := range run {
		kinds[kindWord(r.shape)] = true
	}
	for n := len(run); n > len(run)-len(kinds) && n >= minRun; n-- {
		if even(run[:n]) {
			return n
		}
	}
	return len(run)
}

// even reports whether every kind of row occurs equally often in run.
func even(run []row) bool {
	count := map[string]int{}
	for _, r := range run {
		count[kindWord(r.shape)]++
	}
	want := -1
	for _, n := range count {
		if want >= 0 && n != want {
			return false
		}
		want = n
	}
	return true
}

// foldedRow is the line that stands for a run of repeats: "… 11 more publish/confirm pairs like these (m-2 … m-12)".
func foldedRow(run []row) row {
	count := map[string]int{}
	var words, actors []string
	seenActor := map[string]bool{}
	for _, r := range run {
		w := kindWord(r.shape)
		if count[w] == 0 {
			words = append(words, w)
		}
		count[w]++
		if !seenActor[r.actor] {
			seenActor[r.actor] = true
			actors = append(actors, r.actor)
		}
	}
	actor := "…"
	if len(actors) == 1 {
		actor = actors[0]
	}
	return row{at: run[0].at, actor: actor, text: "… " + runPhrase(words, count, len(run)) + messageSpan(run), folded: len(run)}
}

// runPhrase says how many of what were folded: "11 more publish/confirm pairs like these".
func runPhrase(words []string, count map[string]int, total int) string {
	even := true
	for _, w := range words {
		even = even && count[w] == count[words[0]]
	}
	switch {
	case len(words) == 1:
		return fmt.Sprintf("%d more %s like these", total, pluralWord(total, words[0]))
	case even && len(words) == 2:
		return fmt.Sprintf("%d more %s pairs like these", count[words[0]], strings.Join(words, "/"))
	case even && len(words) <= 4:
		return fmt.Sprintf("%d more rounds of these %d lines", count[words[0]], len(words))
	}
	parts := make([]string, len(words))
	for i, w := range words {
		parts[i] = fmt.Sprintf("%d %s", count[w], pluralWord(count[w], w))
	}
	return fmt.Sprintf("%d more lines like these: %s", total, strings.Join(parts, ", "))
}

// messageSpan names the messages a folded run was about: " for m-1" or " (m-2 … m-12)".
func messageSpan(run []row) string {
	var first, last string
	distinct := map[string]bool{}
	for _, r := range run {
		id := r.message
		if id == "" {
			continue
		}
		if first == "" {
			first = id
		}
		last = id
		distinct[id] = true
	}
	switch len(distinct) {
	case 0:
		return ""
	case 1:
		return " (all " + first + ")"
	}
	return " (" + first + " … " + last + ")"
}

// kindWord names a folded row's kind for a count ("publish", "delivery", "gateway line").
func kindWord(shape string) string {
	parts := strings.SplitN(shape, "\x00", 3)
	if len(parts) < 2 {
		return "line"
	}
	switch Kind(parts[1]) {
	case Log:
		return parts[0] + " line"
	case Publish, Confirm, Ack, Nack, Reject, Return:
		return parts[1]
	case Deliver:
		return "delivery"
	case Refuse:
		return "refusal"
	}
	return "line"
}

// elide keeps the first third and the rest of MaxLines from the end when there are too many rows (the footer line
// that fold adds counts against MaxLines too).
func elide(rows []row) []row {
	limit := MaxLines - 1
	if len(rows) <= limit {
		return rows
	}
	head := limit / 3
	tail := limit - head - 1
	out := append([]row(nil), rows[:head]...)
	out = append(out, row{at: rows[head].at, actor: "…", text: fmt.Sprintf("… %d more lines …", len(rows)-head-tail),
		folded: len(rows) - head - tail})
	return append(out, rows[len(rows)-tail:]...)
}

// render prints rows: time, actor, text; a footer (folded -1) without time or actor.
func render(rows []row) string {
	if len(rows) == 0 {
		return "  (nothing was recorded)\n"
	}
	width := 0
	for _, r := range rows {
		if r.folded >= 0 {
			width = max(width, len(r.actor))
		}
	}
	var b strings.Builder
	for _, r := range rows {
		if r.folded < 0 {
			fmt.Fprintf(&b, "  %s\n", r.text)
			continue
		}
		fmt.Fprintf(&b, "  %+8.3fs  %-*s  %s\n", r.at.Seconds(), width, r.actor, r.text)
	}
	return b.String()
}

// mask hides what differs between repeats of one line: every word that holds a digit (ids, counts, durations).
func mask(text string) string {
	fields := strings.Fields(text)
	for i, f := range fields {
		if strings.IndexFunc(f, unicode.IsDigit) >= 0 {
			fields[i] = "#"
		}
	}
	return strings.Join(fields, " ")
}

func plural(n int, word string) string { return fmt.Sprintf("%d %s", n, pluralWord(n, word)) }

func pluralWord(n int, word string) string {
	switch {
	case n == 1:
		return word
	case strings.HasSuffix(word, "y"):
		return word[:len(word)-1] + "ies"
	case strings.HasSuffix(word, "sh"):
		return word + "es"
	}
	return word + "s"
}
