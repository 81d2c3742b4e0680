// Mistake notifyreturn-per-publish: Sales registers a new NotifyReturn listener for every publish and reads only that
// one, so the old listeners fill up and a late return wedges the library
// A listener made right before the publish hears only returns from then on, so its return is surely its own: the
// attendee does not know that every listener gets every return, for as long as the channel lives.

package pubsub

import (
	"context"
	"fmt"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"msglabs/shared/shop"
)

// publishTimeout bounds one publish, including the wait for the broker's confirm.
const publishTimeout = 2 * time.Second

// Sales publishes the shop's OrderPlaced events. A Sales owns one channel, and a Channel is not safe for concurrent
// use: call PublishOrderPlaced from one goroutine at a time.
type Sales struct {
	ch       *amqp.Channel
	exchange string
	returns  <-chan amqp.Return // unroutable mandatory messages, drained after every publish
}

// NewSales opens Sales' publishing channel on conn (owned by the caller), puts it in confirm mode, listens for
// returned messages and declares the events exchange.
func NewSales(conn *amqp.Connection, names Names) (*Sales, error) {
	ch, err := conn.Channel()
	if err != nil {
		return nil, fmt.Errorf("open channel: %w", err)
	}
	if err := ch.Confirm(false); err != nil { // noWait=false
		return nil, fmt.Errorf("confirm mode: %w", err)
	}
	exchange := names(EventsExchange)
	if err := DeclareEvents(ch, exchange); err != nil {
		return nil, err
	}
	return &Sales{ch: ch, exchange: exchange}, nil
}

// PublishOrderPlaced tells every subscriber that an order was placed. It returns nil once the broker has confirmed
// the event and routed it to at least one queue, and an error wrapping ErrUnroutable when no queue was bound for it.
func (s *Sales) PublishOrderPlaced(ctx context.Context, ev shop.OrderPlaced) error {
	body, err := shop.Encode(ev)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	id := "placed-" + ev.OrderID
	s.returns = s.ch.NotifyReturn(make(chan amqp.Return, 1)) // hears the return of the publish below
	confirm, err := s.ch.PublishWithDeferredConfirmWithContext(ctx,
		s.exchange,     // exchange: the shop's events
		OrderPlacedKey, // routing key: which event this is
		true,           // mandatory: return it to us if no queue is bound for it
		false,          // immediate
		amqp.Publishing{
			MessageId:    id,
			Type:         ev.MessageType(),
			ContentType:  shop.ContentType,
			DeliveryMode: amqp.Persistent, // written to disk in durable queues: survives a broker restart
			Body:         body,
		})
	if err != nil {
		return fmt.Errorf("publish OrderPlaced %s: %w", ev.OrderID, err)
	}
	returned, err := s.await(ctx, confirm, id)
	if err != nil {
		return fmt.Errorf("wait for the confirm of OrderPlaced %s: %w", ev.OrderID, err)
	}
	if !confirm.Acked() {
		return fmt.Errorf("the broker refused OrderPlaced %s", ev.OrderID)
	}
	if returned != nil {
		return fmt.Errorf("publish %s with key %q: %w (%d %s)", id, returned.RoutingKey, ErrUnroutable,
			returned.ReplyCode, returned.ReplyText)
	}
	return nil
}

// await waits for the broker's confirm of the message with this id, at most until ctx is done, and returns the
// message's return if the broker sent one. Meanwhile it takes every return that comes in, a late one of a publish
// whose caller gave up too: the library waits for a return to be taken, and holds every confirm behind it. The
// broker sends a message's return before its confirm, so once the confirm is in, the return is taken or waiting.
func (s *Sales) await(ctx context.Context, confirm *amqp.DeferredConfirmation, id string) (*amqp.Return, error) {
	var own *amqp.Return
	take := func(r amqp.Return) {
		if r.MessageId == id { // a return names its message; an earlier one's is not ours
			own = &r
		}
	}
	for {
		select {
		case r, open := <-s.returns:
			if !open { // the channel closed: no more returns, and the confirm resolves as not acked
				s.returns = nil
				continue
			}
			take(r)
		case <-confirm.Done():
			for len(s.returns) > 0 {
				take(<-s.returns)
			}
			return own, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}
