package devcheck

import (
	"context"
	"strings"
	"testing"

	"msglabs/checker/kittest"
)

// lessonsOfLabOne are the kit's kinds of lesson, taught by the sample kit's lab 1, so its lab 2 must keep them.
var lessonsOfLabOne = []Lesson{
	{From: 1, What: "publishes without waiting for a confirm", Breaks: callNamed("PublishWithContext"), Fix: "confirm"},
	{From: 1, What: "consumes with autoAck true", Breaks: autoAckTrue, Fix: "ack"},
	{From: 1, In: []int{2}, What: "has no delay queues", Needs: "x-dead-letter-exchange", Fix: "declare them"},
}

const secondCode = `package second

type channel struct{}

func (channel) PublishWithContext(args ...any) error        { return nil }
func (channel) ConsumeWithContext(args ...any) (int, error) { return 0, nil }

func publish(ch channel) error {
	return ch.PublishWithContext(nil, "", "q", false, false)
}

func consume(ch channel) {
	ch.ConsumeWithContext(nil, "q", "",
		true, // autoAck
		false, false, false, nil)
}

// exempt(lab 1): a stand-in for a third party.
func thirdParty(ch channel) error { return ch.PublishWithContext(nil, "", "q", false, false) }
`

func TestCarriedLessonsAreKeptByLaterStarters(t *testing.T) {
	root := cleanKit(t)
	kittest.Write(t, root, map[string]string{"labs/02-second/queues.go": secondCode})
	rep := Check(context.Background(), load(t, root), Options{Rules: []Rule{RuleCarried}, Lessons: lessonsOfLabOne})
	var got []string
	for _, p := range rep.Problems {
		got = append(got, p.File+" "+p.What)
	}
	want := []string{
		"labs/02-second/queues.go:9 the starter publishes without waiting for a confirm",
		"labs/02-second/queues.go:13 the starter consumes with autoAck true",
		"labs/02-second the starter has no delay queues",
	}
	for _, w := range want {
		found := false
		for _, g := range got {
			found = found || g == w
		}
		if !found {
			t.Errorf("dev check did not say %q; it said:\n%s", w, strings.Join(got, "\n"))
		}
	}
	if len(got) != len(want) {
		t.Errorf("want %d problems (the exempt call and lab 1 itself are fine), got:\n%s", len(want), strings.Join(got, "\n"))
	}
	if !rep.Failed() {
		t.Error("a starter that undoes an earlier lab's fix must fail the check")
	}
}
