// Do not edit: this test shows the failure.

package pubsub

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"msglabs/shared/harness"
	"msglabs/shared/shop"
	"msglabs/shared/story"
)

var (
	billed  = story.Expect{Item: "order", From: "placed", Done: "billed"}
	shipped = story.Expect{Item: "order", From: "placed", Done: "shipped"}
)

// Billing has subscribed to OrderPlaced for months. Today Shipping subscribes too. Every order must reach both.
func TestEverySubscriberGetsEveryOrder(t *testing.T) {
	env := harness.New(t)
	billing := startSubscriber(env, "billing", OrderPlacedKey)
	shipping := startSubscriber(env, "shipping", OrderPlacedKey)
	sales := startSales(env)

	want := []string{"o-1", "o-2", "o-3", "o-4"}
	for _, id := range want {
		if err := sales.PublishOrderPlaced(env.Context(), shop.OrderPlaced{OrderID: id, Customer: "ann", Cents: 1500}); err != nil {
			t.Fatalf("Sales could not publish OrderPlaced %s: %v", id, err)
		}
	}
	env.Settle(func() bool { return len(billing.ids()) == len(want) && len(shipping.ids()) == len(want) })

	why := []string{
		"Billing and Shipping both subscribed to OrderPlaced with the binding \"order.placed\": each order must reach each of them.",
		fmt.Sprintf("Billing handled [%s]; Shipping handled [%s].", strings.Join(billing.ids(), " "), strings.Join(shipping.ids(), " ")),
	}
	env.ExactlyOnce(billed, want, billing.ids(), why...)
	env.ExactlyOnce(shipped, want, shipping.ids(), why...)
}

// Shipping is the first service to subscribe to OrderPlaced, and its binding key has a typo. The event reaches nobody:
// that may happen, but Sales must not believe it was delivered.
func TestUnroutableOrderIsNoticed(t *testing.T) {
	env := harness.New(t)
	const typo = "order.palced"
	shipping := startSubscriber(env, "shipping", typo)
	sales := startSales(env)

	err := sales.PublishOrderPlaced(env.Context(), shop.OrderPlaced{OrderID: "o-1", Customer: "bob", Cents: 900})
	switch {
	case errors.Is(err, ErrUnroutable):
		env.Log("sales", "noticed: %v", err)
		return
	case err != nil:
		t.Fatalf("publishing OrderPlaced o-1 failed, but not as ErrUnroutable: %v", err)
	}
	if env.Settle(func() bool { return len(shipping.ids()) > 0 }) {
		return
	}
	env.Fail(story.Lost, "order o-1 was placed and reached no subscriber, and Sales was told it was published: "+
		"Shipping bound its queue with %q instead of %q, so the exchange had nowhere to route the event and dropped it "+
		"without a word", typo, OrderPlacedKey)
}

// startSubscriber runs service as its own process, subscribed with binding, and returns what it has handled.
func startSubscriber(env *harness.Env, service, binding string) *handled {
	env.T.Helper()
	proc := env.Process(service)
	h := &handled{env: env, service: service}
	sub := &Subscriber{Service: service, Binding: binding, Names: env.Name, Handle: h.handle}
	subscription, err := sub.Subscribe(proc.Context(), proc.MustDial())
	if err != nil {
		env.T.Fatalf("%s could not subscribe: %v", service, err)
	}
	proc.Go(subscription.Serve)
	return h
}

// startSales runs Sales' publisher as its own process.
func startSales(env *harness.Env) *Sales {
	env.T.Helper()
	sales, err := NewSales(env.Process("sales").MustDial(), env.Name)
	if err != nil {
		env.T.Fatalf("start Sales: %v", err)
	}
	return sales
}

// handled records the orders one subscriber handled. It is safe for concurrent use.
type handled struct {
	env     *harness.Env
	service string
	mu      sync.Mutex
	orders  []string
}

func (h *handled) handle(_ context.Context, ev shop.OrderPlaced) error {
	h.mu.Lock()
	h.orders = append(h.orders, ev.OrderID)
	h.mu.Unlock()
	h.env.Log(h.service, "handled OrderPlaced %s", ev.OrderID)
	return nil
}

func (h *handled) ids() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.orders...)
}
