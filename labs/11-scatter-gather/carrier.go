package gather

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// You do not need to edit this file: it is a stand-in for the carriers' quoting services. In production each carrier
// is a third party behind its own integration; here each one is an in-process fake that speaks AMQP to the real broker.

// Carrier answers quote requests from its own queue, bound to the quote exchange. It prices a parcel as a base fee
// plus a price per started kilo, and replies to the request's reply-to queue, copying its correlation id.
// Set the fields before Serve; Seen is safe to call from other goroutines while Serve runs.
type Carrier struct {
	Name         string
	Queue        string // the carrier's request queue
	BaseCents    int
	CentsPerKilo int

	// Silent makes the carrier take requests and never answer, like a quoting service that hangs.
	Silent bool
	// Hold, when set, makes the carrier's first answer wait until Hold is closed: a gate the test controls.
	Hold <-chan struct{}
	// HoldLater, when set, makes every answer after the first request's wait until HoldLater is closed: the test
	// decides when the next round's answers may go out.
	HoldLater <-chan struct{}
	// Copies is how many times the carrier sends each answer (0 and 1 mean once). Carriers whose integrations
	// deliver at least once send some answers twice; a carrier that "retries until it is sure" sends many.
	Copies int
	// Every is the pause between two copies of an answer (0: one right after the other).
	Every time.Duration
	// Log, when set, tells the timeline what the carrier does.
	Log func(format string, args ...any)

	mu   sync.Mutex
	seen map[string]int // requests received, by order id
	sent int            // replies sent
}

// Price is what this carrier charges to ship req.
func (c *Carrier) Price(req QuoteRequest) int {
	kilos := (req.Grams + 999) / 1000
	return c.BaseCents + kilos*c.CentsPerKilo
}

// Seen reports whether the carrier has received a request for orderID.
func (c *Carrier) Seen(orderID string) bool { return c.Requests(orderID) > 0 }

// Sent returns how many replies the carrier has sent; they are named <carrier>-1 … <carrier>-<Sent>.
func (c *Carrier) Sent() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sent
}

// Requests returns how many requests for orderID the carrier has received (a customer who changes the basket is
// quoted again for the same order).
func (c *Carrier) Requests(orderID string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.seen[orderID]
}

// Serve declares the carrier's queue, binds it to exchange and answers requests until ctx is done.
// It owns the channel it opens on conn (a Channel is not safe for concurrent use) and handles one request at a time;
// the copies of a carrier that re-sends its answers (Every) go out from goroutines of their own, which Serve waits
// for before it returns.
func (c *Carrier) Serve(ctx context.Context, conn *amqp.Connection, exchange string) error {
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}
	defer ch.Close()
	deliveries, err := c.subscribe(ctx, ch, exchange)
	if err != nil {
		return err
	}
	var resends sync.WaitGroup
	defer resends.Wait()
	for d := range deliveries {
		if err := c.handle(ctx, ch, d); err != nil {
			return err
		}
		if c.Every > 0 && c.Copies > 1 && !c.Silent {
			resends.Add(1)
			go func() {
				defer resends.Done()
				c.resend(ctx, conn, d)
			}()
		}
	}
	return nil
}

// Declare declares the carrier's queue and binds it to exchange, without consuming it: a carrier that is down for
// maintenance still has its queue, and requests pile up in it until it comes back (Serve).
func (c *Carrier) Declare(conn *amqp.Connection, exchange string) error {
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}
	defer ch.Close()
	return c.declare(ch, exchange)
}

func (c *Carrier) declare(ch *amqp.Channel, exchange string) error {
	if err := DeclareQuoteExchange(ch, exchange); err != nil {
		return err
	}
	if _, err := ch.QueueDeclare(c.Queue,
		true,  // durable
		false, // autoDelete
		false, // exclusive
		false, // noWait
		nil); err != nil {
		return fmt.Errorf("declare queue %q: %w", c.Queue, err)
	}
	if err := ch.QueueBind(c.Queue, "", exchange,
		false, // noWait
		nil); err != nil {
		return fmt.Errorf("bind queue %q to %q: %w", c.Queue, exchange, err)
	}
	return nil
}

// subscribe declares and binds the carrier's queue and starts consuming it with manual acks.
func (c *Carrier) subscribe(ctx context.Context, ch *amqp.Channel, exchange string) (<-chan amqp.Delivery, error) {
	if err := c.declare(ch, exchange); err != nil {
		return nil, err
	}
	deliveries, err := ch.ConsumeWithContext(ctx, c.Queue,
		"",    // consumer tag: let the library choose
		false, // autoAck: ack once the answer is sent
		false, // exclusive
		false, // noLocal
		false, // noWait
		nil)
	if err != nil {
		return nil, fmt.Errorf("consume %q: %w", c.Queue, err)
	}
	return deliveries, nil
}

// handle answers one request (or, when Silent, swallows it) and acks it.
func (c *Carrier) handle(ctx context.Context, ch *amqp.Channel, d amqp.Delivery) error {
	var req QuoteRequest
	if err := decode(d.Body, QuoteRequestType, &req); err != nil {
		return d.Reject(false) // requeue=false: it will never parse
	}
	first := c.receive(req.OrderID)
	if c.Silent {
		c.log("received the request for %s and will never answer it", req.OrderID)
		return c.ack(d)
	}
	gate := c.Hold
	if !first {
		gate = c.HoldLater
	}
	if gate != nil {
		c.log("holds its answer for %s until the test opens the gate", req.OrderID)
		select {
		case <-gate:
		case <-ctx.Done():
			return nil
		}
	}
	if err := c.answer(ctx, ch, d, req); err != nil {
		return err
	}
	return c.ack(d)
}

// answer sends the carrier's reply to req, and right after it the extra copies of a carrier that sends each
// answer more than once (Copies, without Every).
func (c *Carrier) answer(ctx context.Context, ch *amqp.Channel, d amqp.Delivery, req QuoteRequest) error {
	copies := 1
	if c.Every == 0 {
		copies = max(c.Copies, 1)
	}
	for n := 1; n <= copies; n++ {
		if err := c.reply(ctx, ch, d, req, n); err != nil {
			return err
		}
	}
	return nil
}

// resend sends copies 2 … Copies of the answer to d, Every apart, on a channel of its own, until ctx is done: a
// carrier that retries its answers still takes the next request meanwhile.
func (c *Carrier) resend(ctx context.Context, conn *amqp.Connection, d amqp.Delivery) {
	var req QuoteRequest
	if err := decode(d.Body, QuoteRequestType, &req); err != nil {
		return
	}
	ch, err := conn.Channel()
	if err != nil {
		c.log("cannot re-send its answer for %s: %v", req.OrderID, err)
		return
	}
	defer ch.Close()
	for n := 2; n <= c.Copies; n++ {
		select {
		case <-time.After(c.Every):
		case <-ctx.Done():
			return
		}
		if err := c.reply(ctx, ch, d, req, n); err != nil {
			return
		}
	}
}

func (c *Carrier) ack(d amqp.Delivery) error {
	if err := d.Ack(false); err != nil {
		return fmt.Errorf("ack %s: %w", d.MessageId, err)
	}
	return nil
}

// receive records a request and reports whether it is the carrier's first.
func (c *Carrier) receive(orderID string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen == nil {
		c.seen = map[string]int{}
	}
	first := len(c.seen) == 0
	c.seen[orderID]++
	return first
}

// reply sends the carrier's price for req to the request's reply-to queue, with the request's correlation id; nth
// counts the copies of this answer (1 for the first).
func (c *Carrier) reply(ctx context.Context, ch *amqp.Channel, d amqp.Delivery, req QuoteRequest, nth int) error {
	price := c.Price(req)
	body, err := json.Marshal(QuoteReply{Carrier: c.Name, Cents: price})
	if err != nil {
		return fmt.Errorf("encode %s: %w", QuoteReplyType, err)
	}
	c.mu.Lock()
	c.sent++
	id := fmt.Sprintf("%s-%d", c.Name, c.sent)
	c.mu.Unlock()
	corr := d.CorrelationId
	if corr == "" {
		corr = "(none)"
	}
	if nth == 1 {
		c.log("answers %s: %s (correlation id %s)", req.OrderID, Money(price), corr)
	} else {
		c.log("sends its answer for %s again (copy %d)", req.OrderID, nth)
	}
	// exempt(lab 4): a carrier is a third party; a reply it loses is what Sales' round deadline is for.
	err = ch.PublishWithContext(ctx,
		"",        // exchange: the default exchange routes by queue name
		d.ReplyTo, // routing key: the asker's reply queue
		false,     // mandatory
		false,     // immediate
		amqp.Publishing{
			MessageId:     id,
			CorrelationId: d.CorrelationId,
			Type:          QuoteReplyType,
			ContentType:   "application/json",
			Body:          body,
		})
	if err != nil {
		return fmt.Errorf("reply to %s: %w", req.OrderID, err)
	}
	return nil
}

func (c *Carrier) log(format string, args ...any) {
	if c.Log != nil {
		c.Log(format, args...)
	}
}
