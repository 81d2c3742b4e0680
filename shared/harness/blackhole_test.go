package harness

import (
	"strings"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"
)

// A publish into a blackholed connection leaves (the timeline shows it) but is never confirmed; when the connection
// is then cut, the pending confirmation resolves as not acked, and the broker never had the message.
func TestBlackholeBrokerLosesPublishUntilCut(t *testing.T) {
	env := New(t)
	queue := env.Name("work")
	p := env.Process("sales")
	ch, err := p.MustDial().Channel()
	if err != nil {
		t.Fatal(err)
	}
	declareQueue(t, ch, queue)
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	if n := p.BlackholeBroker(); n != 1 {
		t.Fatalf("blackholed %d connections, want 1", n)
	}
	ctx := env.Context()
	dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", queue, false, false, amqp.Publishing{MessageId: "m-1", Body: []byte(`{"order_id":"o-1"}`)})
	if err != nil {
		t.Fatalf("publish into a blackhole failed at once: %v", err)
	}
	if !env.Eventually(func() bool { return strings.Contains(env.Timeline.Full(), "published m-1 o-1") }) {
		t.Fatalf("the publish never left the client:\n%s", env.Timeline)
	}
	select {
	case <-dc.Done():
		t.Fatalf("confirmed through a blackhole (ack=%v)", dc.Acked())
	default:
	}
	p.CutBroker()
	ok, err := dc.WaitContext(ctx)
	if err != nil || ok {
		t.Fatalf("after the cut: ok=%v err=%v, want a negative confirmation", ok, err)
	}
	if n := env.MustDepth(queue); n != 0 {
		t.Fatalf("the broker has %d message(s), want 0", n)
	}
	if _, err := p.Dial(); err != nil {
		t.Fatalf("reconnect after the cut: %v", err)
	}
}
