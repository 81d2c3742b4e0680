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
	summaryWidth = 160
)

// row is one printed line: an entry, or a line that stands for several (a set-up summary, a folded run).
type row struct {
	at      time.Duration
	actor   string
	text    string
	folded  int    // entries this row stands for; 0 for an entry's own row, -1 for the footer
	shape   string // actor, kind and masked text: rows with one shape repeat each other ("" never folds)
	message string // the entry's message id
}

func entryRow(e Entry) row {
	return row{at: e.At, actor: e.Actor, text: e.Text, message: e.Message,
		shape: e.Actor + "\x00" + string(e.Kind) + "\x00" + mask(e.Text)}
}

// fold turns entries into the rows a person reads: set-up blocks summarised (unless showSetUp), runs of repeats
// folded, the last tailKeep entries whole, and at most MaxLines rows.
func fold(entries []Entry, showSetUp bool) []row {
	tail := max(0, len(entries)-tailKeep)
	rows := summariseSetUp(entries, tail, showSetUp)
	rows = foldRepeats(rows)
	hidden := 0
	for _, r := range rows {
		if r.folded > 0 {
			hidden += r.folded - 1
		}
	}
	rows = elide(rows)
	if hidden > 0 || len(rows) < len(entries) {
		rows = append(rows, row{text: fmt.Sprintf("(%d lines shown of %d: set-up and repeats folded; %s=1 prints every line)",
			len(rows), len(entries), EnvVerbose), folded: -1})
	}
	return rows
}

// summariseSetUp replaces each block of two or more consecutive set-up entries before tail with one summary row.
func summariseSetUp(entries []Entry, tail int, showSetUp bool) []row {
	var rows []row
	for i := 0; i < len(entries); {
		j := i
		for !showSetUp && j < tail && entries[j].Kind.setUp() {
			j++
		}
		if j-i >= 2 {
			rows = append(rows, row{at: entries[i].At, actor: "set-up", text: summary(entries[i:j]), folded: j - i})
			i = j
			continue
		}
		rows = append(rows, entryRow(entries[i]))
		i++
	}
	for i := range rows {
		if rows[i].folded > 0 {
			continue
		}
		// Rows from the tail are never folded: mark them with an empty shape.
		if i >= len(rows)-min(tailKeep, len(entries)) {
			rows[i].shape = ""
		}
	}
	return rows
}

// summary words a block of set-up entries: what was declared and bound, and who consumes what.
func summary(block []Entry) string {
	var objects, consumers []string
	who := map[string][]string{}
	seen := map[string]bool{}
	queues, exchanges, bindings, consumerCount := 0, 0, 0, 0
	for _, e := range block {
		b := e.Brief
		if b == "" {
			b = e.Text
		}
		switch e.Kind {
		case Consume:
			if e.Brief == "" {
				continue // prefetch: the consumer's brief says it
			}
			consumerCount++
			if who[b] == nil {
				consumers = append(consumers, b)
			}
			who[b] = append(who[b], e.Actor)
		default:
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
	}
	parts := []string{}
	if len(objects) > 0 {
		parts = append(parts, strings.Join(objects, ", "))
	}
	for _, c := range consumers {
		parts = append(parts, strings.Join(who[c], ", ")+" "+c)
	}
	if s := strings.Join(parts, "; "); len(s) <= summaryWidth {
		return s
	}
	return counted(queues, exchanges, bindings, consumerCount, consumers, who)
}

// counted is the short form of a summary: numbers, and the consumers by queue when they still fit.
func counted(queues, exchanges, bindings, consumers int, briefs []string, who map[string][]string) string {
	var objs []string
	for _, c := range []struct {
		n    int
		word string
	}{{exchanges, "exchange"}, {queues, "queue"}, {bindings, "binding"}} {
		if c.n > 0 {
			objs = append(objs, plural(c.n, c.word))
		}
	}
	s := strings.Join(objs, ", ")
	if s != "" {
		s += " declared"
	}
	if consumers == 0 {
		return s
	}
	var names []string
	for _, b := range briefs {
		names = append(names, who[b]...)
	}
	sort.Strings(names)
	if s != "" {
		s += "; "
	}
	return s + plural(consumers, "consumer") + " (" + strings.Join(names, ", ") + ")"
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
		if j = i + wholeCycles(rows[i:j]); j-i >= minRun {
			out = append(out, foldedRow(rows[i:j]))
			i = j
			continue
		}
		out = append(out, rows[i])
		i++
	}
	return out
}

// wholeCycles returns how much of a run to fold so that it holds whole rounds (as many publishes as confirms): the
// run itself, or the run less up to a cycle's worth of rows at its end (they print whole). A run that never evens
// out is folded entire.
func wholeCycles(run []row) int {
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
		return fmt.Sprintf("%d more %s rounds like these", count[words[0]], strings.Join(words, "/"))
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
