// Mistake correlation-is-order-id: the order id is the correlation id, so a late answer about the same order is taken for the new question
// the order id already names "the question about this order"; a random id per round looks like noise.

package gather

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

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

// quoteDeadline is how long a round waits for carriers that have not answered yet. The customer is at checkout: a
// quote that comes later is of no use to them.
const quoteDeadline = 250 * time.Millisecond

// Ask runs one quote round for req: it asks every carrier and returns the cheapest quote of this round, as soon as
// every carrier has answered or when quoteDeadline has passed (or ctx is done) with at least one answer.
func (q *Quoter) Ask(ctx context.Context, req QuoteRequest) (Quote, error) {
	round := req.OrderID // the question is about this order: its id correlates the answers
	ctx, cancel := context.WithTimeout(ctx, quoteDeadline)
	defer cancel()
	err := q.publish(ctx, req, amqp.Publishing{
		ReplyTo:       q.ReplyQueue,
		CorrelationId: round,
		Expiration:    strconv.Itoa(int(quoteDeadline.Milliseconds())), // a request still queued after the round is worthless
	})
	if err != nil {
		return Quote{}, err
	}
	answered := map[string]Quote{} // by carrier: a carrier counts once, even if its reply comes twice
	for len(answered) < len(q.Carriers) {
		select {
		case <-ctx.Done():
			return q.bestSoFar(req, answered)
		case d, ok := <-q.replies:
			if !ok {
				return Quote{}, errRepliesClosed
			}
			if d.CorrelationId != round {
				q.discard(d, req)
				continue
			}
			quote, err := q.take(d)
			if err != nil {
				q.log("skipped a reply: %v", err)
				continue
			}
			q.log("took %s's quote %s for %s", quote.Carrier, Money(quote.Cents), req.OrderID)
			answered[quote.Carrier] = quote
		}
	}
	return q.bestSoFar(req, answered)
}

// bestSoFar ends a round: the cheapest quote that arrived in time, or an error when no carrier answered.
func (q *Quoter) bestSoFar(req QuoteRequest, answered map[string]Quote) (Quote, error) {
	if len(answered) == 0 {
		return Quote{}, fmt.Errorf("quote %s: no carrier answered within %v", req.OrderID, quoteDeadline)
	}
	quotes := make([]Quote, 0, len(answered))
	for _, quote := range answered {
		quotes = append(quotes, quote)
	}
	if len(answered) < len(q.Carriers) {
		q.log("round for %s ends with %d of %d answers", req.OrderID, len(answered), len(q.Carriers))
	}
	return cheapest(quotes), nil
}

// discard acks and drops a reply that belongs to another round (one that has ended): it answers a question nobody
// is asking any more.
func (q *Quoter) discard(d amqp.Delivery, req QuoteRequest) {
	q.log("discarded %s: its correlation id %q is not the round for %s (a late answer to an earlier round)",
		d.MessageId, d.CorrelationId, req.OrderID)
	if err := d.Ack(false); err != nil {
		q.log("ack of discarded reply %s failed: %v", d.MessageId, err)
	}
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
