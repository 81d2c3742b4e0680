package tui

import (
	"strings"
	"testing"

	"github.com/charmbracelet/x/ansi"

	"msglabs/checker/kit"
	"msglabs/checker/lab"
)

// ackHint is lab 3's second hint as it shipped when an attendee saw its second link broken at "amqp091-" at 120
// columns.
const ackHint = "Consume with autoAck false: the broker then keeps every delivery until you settle it (ack, nack, reject), " +
	"and requeues the unsettled ones when the channel or connection dies. Which outcome deserves which answer, and when? " +
	"https://www.rabbitmq.com/docs/confirms#acknowledgement-modes ; https://pkg.go.dev/github.com/rabbitmq/amqp091-go#Delivery.Nack"

// wantFits fails when a line is wider than w cells.
func wantFits(t *testing.T, lines []string, w int) {
	t.Helper()
	for i, l := range lines {
		if lw := ansi.StringWidth(l); lw > w {
			t.Fatalf("line %d is %d cells wide, more than %d: %q", i, lw, w, l)
		}
	}
}

// wantWhole fails unless each of words stands whole on one line.
func wantWhole(t *testing.T, lines []string, words ...string) {
	t.Helper()
	for _, w := range words {
		found := false
		for _, l := range lines {
			found = found || strings.Contains(l, w)
		}
		if !found {
			t.Fatalf("%q is not whole on any line; it was broken:\n%s", w, strings.Join(lines, "\n"))
		}
	}
}

// TestHintURLsStayWhole: at 120 columns (the run pane wraps at 119) and at 80, the hint's two links each stand whole
// on a line, and no line is wider than the pane.
func TestHintURLsStayWhole(t *testing.T) {
	li := kit.LabInfo{Lab: lab.Lab{Steps: []lab.Step{{Hints: []string{"think", ackHint, "near code"}}}},
		Current: 1, StepInfos: []kit.StepInfo{{Number: 1, HintsShown: 2, Hints: 3}}}
	for _, w := range []int{119, 79} {
		lines := strings.Split(strings.Join(hintLines(DefaultStyles(), li, w), "\n"), "\n")
		wantFits(t, lines, w)
		wantWhole(t, lines, "https://www.rabbitmq.com/docs/confirms#acknowledgement-modes",
			"https://pkg.go.dev/github.com/rabbitmq/amqp091-go#Delivery.Nack", "hint 2/3: Consume")
	}
}

// TestWrapBreaksAtSpacesOnly: a hyphen is no place to break, the spacing between words (a timeline's columns)
// stays, and what is wrapped reads the same joined again.
func TestWrapBreaksAtSpacesOnly(t *testing.T) {
	s := "  +0.145s  sales    published m-1 BillOrder o-1 → queue \"billing\" (default exchange) with an at-least-once self-check"
	lines := wrapWords(s, 60, 40)
	if !strings.HasPrefix(lines[0], "  +0.145s  sales    published m-1") {
		t.Fatalf("the first line lost its indent or its columns: %q", lines[0])
	}
	wantFits(t, lines[:1], 60)
	wantFits(t, lines[1:], 40)
	wantWhole(t, lines, "at-least-once", "m-1", "o-1")
	if got := strings.Join(strings.Fields(strings.Join(lines, " ")), " "); got != strings.Join(strings.Fields(s), " ") {
		t.Fatalf("wrapping changed the words:\n got %q\nwant %q", got, s)
	}
}

// TestWrapCutsOnlyWordsLongerThanALine: a word (a URL too) longer than the whole width starts a line of its own and
// is cut only at the ends of lines; the words around it are whole.
func TestWrapCutsOnlyWordsLongerThanALine(t *testing.T) {
	long := "https://example.com/" + strings.Repeat("a", 50)
	lines := strings.Split(wrap("see "+long+" then go on", 30), "\n")
	want := []string{"see", long[:30], long[30:60], long[60:] + " then go on"}
	if strings.Join(lines, "|") != strings.Join(want, "|") {
		t.Fatalf("wrap = %q, want %q", lines, want)
	}
	if got := wrap("", 30); got != "" {
		t.Fatalf("wrap of nothing = %q", got)
	}
	if got := wrap("a\n\nb", 30); got != "a\n\nb" {
		t.Fatalf("wrap kept no paragraphs: %q", got)
	}
}

// TestDiffWrapsCodeAtSpaces: the solution's comment lines at the diff's width beside the follow-up on a 120-column
// terminal (64 cells) break between words ("the o↪rder" was the complaint), keep their sign and their indent, and a
// word longer than the line is the only thing cut.
func TestDiffWrapsCodeAtSpaces(t *testing.T) {
	d := "+// settle each delivery itself, after the work: Ack once the order is billed, Nack with requeue when billing failed\n" +
		"+// so the broker delivers it again, Reject what can never be parsed. A delivery Billing never settles goes back.\n" +
		"-\t\treturn fmt.Errorf(\"consume %s: %w\", queue, err) // the channel could not start consuming from the billing queue\n" +
		" " + strings.Repeat("x", 80) + "\n"
	lines := diffLines(DefaultStyles(), d, 64)
	wantFits(t, lines, 64)
	wantWhole(t, lines, "order", "parsed.", "requeue", "billing")
	for _, l := range lines {
		switch {
		case strings.HasPrefix(l, "+↪") || strings.HasPrefix(l, "+//"):
		case strings.HasPrefix(l, "-        ↪") || strings.HasPrefix(l, "-        return"):
		case strings.HasPrefix(l, " x") || strings.HasPrefix(l, " ↪x"):
		default:
			t.Fatalf("a wrapped part lost its sign, indent or mark: %q\n%s", l, strings.Join(lines, "\n"))
		}
		if strings.HasPrefix(l, "+↪ ") || strings.HasSuffix(l, " ") {
			t.Fatalf("a part starts or ends with the space it was broken at: %q", l)
		}
	}
	if got := strings.ReplaceAll(strings.Join(lines[len(lines)-2:], ""), " ↪", ""); got != " "+strings.Repeat("x", 80) {
		t.Fatalf("the 80-cell word was not cut into two parts that join again: %q", lines[len(lines)-2:])
	}
}

// TestHangIndentsEveryLineAfterTheFirst: a report line wraps with its hanging indent, a newline in it included.
func TestHangIndentsEveryLineAfterTheFirst(t *testing.T) {
	got := hang("LOST: order o-1 was never charged (1 sent, 0 charged)\nBilling crashed", 30, "      ")
	want := []string{"LOST: order o-1 was never", "      charged (1 sent, 0", "      charged)", "      Billing crashed"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("hang = %q, want %q", got, want)
	}
}
