package gather

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	amqp "github.com/rabbitmq/amqp091-go"
)

// replyPrefetch caps how many carrier replies the broker hands Sales before Sales acks some.
const replyPrefetch = 16

// Quoter is Sales' side of a quote round at checkout: it publishes one QuoteRequest that every carrier receives (the
// scatter), collects their replies from Sales' own reply queue (the gather) and offers the customer the cheapest.
//
// Set the exported fields, call Start once, then Ask. Ask is not safe for concurrent use: one round at a time reads
// the reply queue, and the Quoter owns its channel.
type Quoter struct {
	Exchange   string   // fanout exchange every carrier's queue is bound to
	ReplyQueue string   // Sales' own queue for the carriers' replies
	Carriers   []string // the carriers that are asked, by name
	// Log, when set, tells the timeline what Sales decides.
	Log func(format string, args ...any)

	ch      *amqp.Channel
	replies <-chan amqp.Delivery
}

// Start opens the Quoter's channel on conn (in confirm mode), declares the quote exchange and the reply queue, and
// starts consuming replies. The consumer stops when ctx is done.
func (q *Quoter) Start(ctx context.Context, conn *amqp.Connection) error {
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}
	if err := ch.Confirm(false); err != nil { // noWait=false
		return fmt.Errorf("confirm mode: %w", err)
	}
	if err := DeclareQuoteExchange(ch, q.Exchange); err != nil {
		return err
	}
	if _, err := ch.QueueDeclare(q.ReplyQueue,
		false, // durable: replies are only worth something to the Sales instance waiting for them
		false, // autoDelete
		true,  // exclusive: only this connection may consume it; it goes when Sales disconnects
		false, // noWait
		nil); err != nil {
		return fmt.Errorf("declare queue %q: %w", q.ReplyQueue, err)
	}
	if err := ch.Qos(replyPrefetch, 0, false); err != nil { // prefetchCount, prefetchSize, global
		return fmt.Errorf("set prefetch: %w", err)
	}
	replies, err := ch.ConsumeWithContext(ctx, q.ReplyQueue,
		"",    // consumer tag: let the library choose
		false, // autoAck
		true,  // exclusive
		false, // noLocal
		false, // noWait
		nil)
	if err != nil {
		return fmt.Errorf("consume %q: %w", q.ReplyQueue, err)
	}
	q.ch, q.replies = ch, replies
	return nil
}

// Ask runs one quote round for req: it asks every carrier and returns the cheapest quote.
func (q *Quoter) Ask(ctx context.Context, req QuoteRequest) (Quote, error) {
	// TODO(lab): step 2. Nothing in the request says which round a reply belongs to, so a reply that arrives after
	// its round ended is taken for an answer to the next one. And the request itself outlives the round: it waits in
	// the queue of a carrier that is down until the carrier comes back, long after anyone cares about its answer.
	// Give every round its own identity on the wire, and the request a life no longer than its round.
	if err := q.publish(ctx, req, amqp.Publishing{ReplyTo: q.ReplyQueue}); err != nil {
		return Quote{}, err
	}
	// TODO(lab): step 1. This waits until it has as many replies as there are carriers. One carrier that never
	// answers keeps the customer waiting forever (the caller's context rarely has a deadline), and one that answers
	// twice ends the round before the others have answered. Give the round its own end: every carrier has answered
	// (once), or a short deadline has passed; then the best quote so far wins.
	var quotes []Quote
	for len(quotes) < len(q.Carriers) {
		select {
		case <-ctx.Done():
			return Quote{}, fmt.Errorf("quote %s: %w", req.OrderID, ctx.Err())
		case d, ok := <-q.replies:
			if !ok {
				return Quote{}, errRepliesClosed
			}
			quote, err := q.take(d)
			if err != nil {
				q.log("skipped a reply: %v", err)
				continue
			}
			q.log("took %s's quote %s for %s", quote.Carrier, Money(quote.Cents), req.OrderID)
			quotes = append(quotes, quote)
		}
	}
	return cheapest(quotes), nil
}

// errRepliesClosed means the reply consumer stopped (the connection closed, or Start's context ended).
var errRepliesClosed = errors.New("the reply queue's consumer has stopped")

// publish sends req to every carrier through the fanout exchange and waits for the broker's confirm.
func (q *Quoter) publish(ctx context.Context, req QuoteRequest, msg amqp.Publishing) error {
	body, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("encode %s: %w", QuoteRequestType, err)
	}
	msg.MessageId = "quote-" + req.OrderID
	msg.Type = QuoteRequestType
	msg.ContentType = "application/json"
	msg.Body = body
	dc, err := q.ch.PublishWithDeferredConfirmWithContext(ctx, q.Exchange,
		"",    // routing key: a fanout exchange ignores it
		false, // mandatory
		false, // immediate
		msg)
	if err != nil {
		return fmt.Errorf("publish %s for %s: %w", QuoteRequestType, req.OrderID, err)
	}
	ok, err := dc.WaitContext(ctx)
	if err != nil {
		return fmt.Errorf("confirm of the %s for %s: %w", QuoteRequestType, req.OrderID, err)
	}
	if !ok {
		return fmt.Errorf("the broker refused the %s for %s", QuoteRequestType, req.OrderID)
	}
	return nil
}

// take decodes a carrier's reply and acks it: a reply is read once, whatever Sales makes of it.
func (q *Quoter) take(d amqp.Delivery) (Quote, error) {
	if err := d.Ack(false); err != nil {
		return Quote{}, fmt.Errorf("ack reply %s: %w", d.MessageId, err)
	}
	var reply QuoteReply
	if err := decode(d.Body, QuoteReplyType, &reply); err != nil {
		return Quote{}, err
	}
	return Quote{Carrier: reply.Carrier, Cents: reply.Cents}, nil
}

// cheapest returns the lowest quote; quotes must not be empty.
func cheapest(quotes []Quote) Quote {
	best := quotes[0]
	for _, quote := range quotes[1:] {
		if quote.Cents < best.Cents {
			best = quote
		}
	}
	return best
}

func (q *Quoter) log(format string, args ...any) {
	if q.Log != nil {
		q.Log(format, args...)
	}
}
