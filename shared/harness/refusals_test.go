package harness

import (
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Refusals counts the broker's negative confirms per actor: a queue that holds one message refuses the next two.
func TestRefusalsCountsNegativeConfirms(t *testing.T) {
	env := New(t)
	full := env.Name("full")
	ch, err := env.Process("sales").MustDial().Channel()
	if err != nil {
		t.Fatal(err)
	}
	args := amqp.Table{"x-max-length": int32(1), "x-overflow": "reject-publish"}
	if _, err := ch.QueueDeclare(full, false, false, false, false, args); err != nil {
		t.Fatal(err)
	}
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	ctx := env.Context()
	var oks []bool
	for i := 0; i < 3; i++ {
		dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", full, false, false, amqp.Publishing{MessageId: env.NextMessageID()})
		if err != nil {
			t.Fatal(err)
		}
		ok, err := dc.WaitContext(ctx)
		if err != nil {
			t.Fatal(err)
		}
		oks = append(oks, ok)
	}
	if !oks[0] || oks[1] || oks[2] {
		t.Fatalf("confirms = %v, want [true false false] (reject-publish)", oks)
	}
	// The proxy shows each chunk to the recorder before forwarding it, so the nacks are counted by now; Eventually
	// only keeps this test about counting, not about that order.
	if !env.Eventually(func() bool { return len(env.Refusals("sales")) == 2 }) {
		t.Fatalf("Refusals(sales) = %v, want 2 refusals; timeline:\n%s", env.Refusals("sales"), env.Timeline)
	}
	at := env.Refusals("sales")
	if at[1].Before(at[0]) {
		t.Errorf("Refusals(sales) not oldest first: %v", at)
	}
	if n := len(env.Refusals("billing")); n != 0 {
		t.Errorf("Refusals of an actor that never published = %d, want 0", n)
	}
}
