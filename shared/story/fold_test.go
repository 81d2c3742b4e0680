package story

import (
	"fmt"
	"strings"
	"testing"
)

// setUpAndBurst is a timeline like lab 7's: a topology, 60 publish/confirm pairs, a consumer, the end.
func setUpAndBurst(pairs int) *Timeline {
	tl := NewTimeline()
	tl.Record(Entry{Actor: "sales", Kind: Declare, Peer: "billing", Text: `declared queue "billing" (durable)`, Brief: `queue "billing"`})
	tl.Record(Entry{Actor: "sales", Kind: Declare, Peer: "events", Text: `declared exchange "events" (durable)`, Brief: `exchange "events"`})
	tl.Record(Entry{Actor: "sales", Kind: Bind, Peer: "billing", Text: `bound queue "billing" to exchange "events" with key "o"`,
		Brief: `"events" → "billing" by "o"`})
	for i := 1; i <= pairs; i++ {
		id := fmt.Sprintf("bill-o-%d", i)
		tl.Record(Entry{Actor: "sales", Kind: Publish, Message: id, Peer: "events", Text: "published " + id + ` BillOrder o-` + fmt.Sprint(i) + ` → exchange "events" key "o" (persistent)`})
		tl.Record(Entry{Actor: "sales", Kind: Confirm, Message: id, Text: "broker confirmed " + id})
	}
	tl.Record(Entry{Actor: "billing", Kind: Consume, Text: "prefetch set to 1"})
	tl.Record(Entry{Actor: "billing", Kind: Consume, Peer: "billing", Text: `consuming from "billing" (manual ack)`,
		Brief: `"billing" (manual ack, prefetch 1)`})
	tl.Add("billing", "stuck on o-1")
	return tl
}

func TestRepeatsFoldIntoOneLine(t *testing.T) {
	out := setUpAndBurst(60).String()
	for _, want := range []string{
		`set-up   queue "billing", exchange "events", "events" → "billing" by "o"` + "\n",
		`published bill-o-1 BillOrder o-1`,
		`broker confirmed bill-o-1` + "\n",
		`sales    … 56 more publish/confirm pairs like these (bill-o-2 … bill-o-57)`,
		`published bill-o-60 BillOrder o-60`,
		`set-up   billing consumes "billing" (manual ack, prefetch 1)`, // set-up folds in the tail too
		`stuck on o-1`,
		`(set-up and repeats folded: MSGLABS_VERBOSE=1 prints all 126 lines)`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("folded timeline lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "declared queue") || strings.Contains(out, "bill-o-30 ") {
		t.Errorf("set-up or the middle of the burst printed whole:\n%s", out)
	}
}

func TestFullAndVerboseShowEverything(t *testing.T) {
	tl := setUpAndBurst(60)
	if n := strings.Count(tl.Full(), "\n"); n != 126 {
		t.Fatalf("Full printed %d lines, want all 126", n)
	}
	t.Setenv(EnvVerbose, "1")
	if tl.String() != tl.Full() {
		t.Fatal("MSGLABS_VERBOSE=1 did not print the full timeline")
	}
}

func TestShowSetUpKeepsTheTopology(t *testing.T) {
	tl := setUpAndBurst(2)
	tl.ShowSetUp()
	out := tl.String()
	if !strings.Contains(out, `declared queue "billing" (durable)`) || strings.Contains(out, "set-up ") {
		t.Fatalf("set-up summarised although the failure is about it:\n%s", out)
	}
}

// A short timeline with nothing to fold prints as it is, without a footer.
func TestShortTimelinePrintsWhole(t *testing.T) {
	tl := NewTimeline()
	tl.Record(Entry{Actor: "test", Kind: Publish, Text: "published m-1"})
	tl.Record(Entry{Actor: "billing", Kind: Deliver, Text: "received m-1"})
	if tl.String() != tl.Full() {
		t.Fatalf("a two-line timeline was changed:\n%s", tl.String())
	}
}

// A loop (received, gateway, nacked, again and again) folds with what it is made of; the first redelivery shows.
func TestLoopFoldsAndCountsItsParts(t *testing.T) {
	tl := NewTimeline()
	tl.Record(Entry{Actor: "billing", Kind: Deliver, Message: "m-1", Text: `received m-1 from "billing"`})
	for i := 1; i <= 30; i++ {
		if i > 1 {
			tl.Record(Entry{Actor: "billing", Kind: Deliver, Message: "m-1", Redelivered: true, Text: `received m-1 from "billing" (REDELIVERED)`})
		}
		if i%10 == 1 {
			tl.Add("gateway", "call %d for o-1 → 429 try later", i)
		}
		tl.Record(Entry{Actor: "billing", Kind: Nack, Message: "m-1", Text: "nacked m-1, requeue"})
	}
	out := tl.String()
	for _, want := range []string{"(REDELIVERED)", "more lines like these: ", "deliveries", "nacks", "2 gateway lines", " (all m-1)"} {
		if !strings.Contains(out, want) {
			t.Errorf("loop timeline lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "\n"); n > 14 {
		t.Errorf("a loop of 30 rounds printed %d lines:\n%s", n, out)
	}
}

// Whatever is recorded, the folded timeline stays within MaxLines and keeps the last entries whole.
func TestFoldedTimelineIsBounded(t *testing.T) {
	for _, n := range []int{0, 1, 39, 40, 41, 200} {
		tl := NewTimeline()
		for i := range n {
			tl.Add(fmt.Sprintf("p%d", i%3), "unique line %s", strings.Repeat("z", i))
		}
		out := tl.String()
		if lines := strings.Count(out, "\n"); lines > MaxLines {
			t.Errorf("%d entries: %d lines printed, want ≤ %d", n, lines, MaxLines)
		}
		if n > 0 && !strings.Contains(out, "unique line "+strings.Repeat("z", n-1)+"\n") {
			t.Errorf("%d entries: the last entry is not printed whole:\n%s", n, out)
		}
	}
}

func TestLongSetUpIsCounted(t *testing.T) {
	tl := NewTimeline()
	for i := range 6 {
		q := fmt.Sprintf("queue-with-a-long-name-%c", 'a'+i)
		tl.Record(Entry{Actor: "ops", Kind: Declare, Peer: q, Text: "declared queue " + q, Brief: `queue "` + q + `"`})
		tl.Record(Entry{Actor: fmt.Sprintf("svc%c", 'a'+i), Kind: Consume, Peer: q, Text: "consuming from " + q,
			Brief: `"` + q + `" (manual ack)`})
	}
	for range tailKeep {
		tl.Add("test", "later")
	}
	out := tl.String()
	if !strings.Contains(out, "6 queues declared; 6 consumers (svca, svcb, svcc, svcd, svce, svcf)") {
		t.Fatalf("a long set-up was not counted:\n%s", out)
	}
}

// Consumers of one queue are named together, with what they consume.
func TestSetUpNamesWhoConsumesWhat(t *testing.T) {
	var block []Entry
	for _, who := range []string{"billing", "shipping"} {
		block = append(block,
			Entry{Actor: who, Kind: Declare, Brief: `queue "order-placed"`},
			Entry{Actor: who, Kind: Bind, Brief: `"shop.events" → "order-placed" by "order.placed"`},
			Entry{Actor: who, Kind: Consume, Brief: `"order-placed" (manual ack, no prefetch limit)`})
	}
	want := `queue "order-placed", "shop.events" → "order-placed" by "order.placed"; billing and shipping consume "order-placed" (manual ack, no prefetch limit)`
	if got := summary(block); got != want {
		t.Fatalf("summary:\n%s\nwant:\n%s", got, want)
	}
}

// A row that occurs once inside a loop (another publisher's message) prints in its place; the loop folds around it.
func TestOneOffInsideALoopPrints(t *testing.T) {
	tl := NewTimeline()
	for i := range 20 {
		if i == 8 {
			tl.Record(Entry{Actor: "sales", Kind: Publish, Message: "m-2", Text: "published m-2"})
		}
		tl.Record(Entry{Actor: "billing", Kind: Deliver, Message: "m-1", Text: "received m-1 (REDELIVERED)"})
		tl.Record(Entry{Actor: "billing", Kind: Nack, Message: "m-1", Text: "nacked m-1"})
	}
	out := tl.String()
	if !strings.Contains(out, "published m-2") || strings.Count(out, "more delivery/nack pairs like these (all m-1)") != 2 {
		t.Fatalf("the one-off publish was folded into the loop:\n%s", out)
	}
}
