//go:build solution

// Why this fix: (step 1 of 2) a quote round needs its own end. It ends when every carrier has answered, counting each
// carrier once however often its answer comes, or when a short deadline has passed, whichever comes first, offering the
// best quote so far: one silent carrier no longer keeps the customer waiting, and one chatty carrier cannot end the
// round early. The deadline is the round's, set once when it starts; a wait that starts again with every reply never
// ends while replies keep coming. This is one good answer, not the only one: step 2 gives the round its identity.

package gather

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
	// TODO(lab): step 2. Nothing in the request says which round a reply belongs to, so a reply that arrives after
	// its round ended is taken for an answer to the next one. And the request itself outlives the round: it waits in
	// the queue of a carrier that is down until the carrier comes back, long after anyone cares about its answer.
	// Give every round its own identity on the wire, and the request a life no longer than its round.
	ctx, cancel := context.WithTimeout(ctx, quoteDeadline)
	defer cancel()
	if err := q.publish(ctx, req, amqp.Publishing{ReplyTo: q.ReplyQueue}); err != nil {
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
