package story

import (
	"strings"
	"testing"
)

func TestExactlyOnceVerdicts(t *testing.T) {
	billed := Expect{Item: "order", From: "placed", Done: "billed"}
	cases := []struct {
		name      string
		want, got []string
		findings  []string
	}{
		{"all well", []string{"o-1", "o-2"}, []string{"o-2", "o-1"}, nil},
		{"one lost", []string{"o-17"}, nil, []string{"LOST: order o-17 was never billed (1 placed, 0 billed)"}},
		{"two lost", []string{"o-1", "o-2", "o-3"}, []string{"o-2"}, []string{"LOST: orders o-1, o-3 were never billed (3 placed, 1 billed)"}},
		{"duplicate", []string{"o-1"}, []string{"o-1", "o-1"}, []string{"DUPLICATE: order o-1 was billed 2 times (1 placed, 2 billed)"}},
		{"ghost", []string{}, []string{"o-9"}, []string{"GHOST: order o-9 was billed but never placed (0 placed, 1 billed)"}},
		{"lost before duplicate", []string{"o-1", "o-2"}, []string{"o-2", "o-2"}, []string{
			"LOST: order o-1 was never billed (2 placed, 2 billed)",
			"DUPLICATE: order o-2 was billed 2 times (2 placed, 2 billed)"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, f := range ExactlyOnce(billed, tc.want, tc.got) {
				got = append(got, string(f.Marker)+": "+f.Headline)
			}
			if strings.Join(got, "\n") != strings.Join(tc.findings, "\n") {
				t.Fatalf("findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.findings, "\n"))
			}
		})
	}
}

func TestTellRendersMarkerFirstAndTimeline(t *testing.T) {
	tl := NewTimeline()
	tl.Add("test", "published %s", "m-3")
	tl.Add("billing", "crashed at %q", "after-receive")
	out := Tell(Lost, "order o-17 was never billed", []string{"detail"}, tl)
	if !strings.HasPrefix(out, "LOST: order o-17 was never billed\n  detail\n\ntimeline:\n") {
		t.Fatalf("unexpected story:\n%s", out)
	}
	if !strings.Contains(out, `billing  crashed at "after-receive"`) {
		t.Fatalf("timeline line missing:\n%s", out)
	}
}

func TestTimelineElidesTheMiddle(t *testing.T) {
	tl := NewTimeline()
	for i := 0; i < 200; i++ {
		tl.Add("p", "event %d of a kind never seen before: %s", i, strings.Repeat("x", i%7+1)+strings.Repeat("y", i/7))
	}
	out := tl.String()
	if !strings.Contains(out, "event 0 ") || !strings.Contains(out, "event 199 ") || !strings.Contains(out, "more lines …") {
		t.Fatalf("elision wrong:\n%s", out)
	}
	if n := strings.Count(out, "\n"); n > MaxLines {
		t.Fatalf("%d lines, want at most %d", n, MaxLines)
	}
}

func TestBecauseEndsTheFirstHeadline(t *testing.T) {
	charged := Expect{Item: "order", From: "placed", Done: "charged"}
	f := ExactlyOnce(charged.Because("m-1 was redelivered after %s crashed", "Billing"), []string{"o-1", "o-2"}, []string{"o-1", "o-1"})
	if len(f) != 2 || f[0].Headline != "order o-2 was never charged (2 placed, 2 charged); m-1 was redelivered after Billing crashed" ||
		strings.Contains(f[1].Headline, "redelivered") {
		t.Fatalf("findings: %+v", f)
	}
	if charged.Cause != "" {
		t.Fatal("Because changed the Expect it was called on")
	}
}
