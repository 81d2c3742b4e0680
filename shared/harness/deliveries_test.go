package harness

import (
	"testing"

	"msglabs/shared/shop"
)

// Deliveries counts what crossed the wire: a message nacked with requeue twice, then acked, was delivered 3 times.
func TestDeliveriesCountsRedeliveries(t *testing.T) {
	env := New(t)
	queue := env.Name("work")
	ch, err := env.Process("worker").MustDial().Channel()
	if err != nil {
		t.Fatal(err)
	}
	declareQueue(t, ch, queue)
	id := env.Publisher("test").Send("", queue, shop.BillOrder{OrderID: "o-1", Cents: 100})
	if err := ch.Qos(1, 0, false); err != nil {
		t.Fatal(err)
	}
	deliveries, err := ch.Consume(queue, "", false, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		d := <-deliveries
		if i < 2 {
			_ = d.Nack(false, true)
			continue
		}
		_ = d.Ack(false)
	}
	if !env.Eventually(func() bool { return env.Deliveries(id) == 3 && env.Unacked() == 0 }) {
		t.Fatalf("Deliveries(%s) = %d, want 3; timeline:\n%s", id, env.Deliveries(id), env.Timeline)
	}
	if n := env.Deliveries("m-unknown"); n != 0 {
		t.Fatalf("Deliveries of a message never sent = %d, want 0", n)
	}
}
