package harness

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"msglabs/shared/shop"
)

// inspector returns the harness's own broker connection (direct, unrecorded), used to look at queues and to clean up.
func (e *Env) inspector() (*amqp.Connection, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.inspect != nil && !e.inspect.IsClosed() {
		return e.inspect, nil
	}
	conn, err := amqp.DialConfig(e.AMQPURL(), amqp.Config{Properties: amqp.Table{"connection_name": e.prefix + "/harness"}})
	if err != nil {
		return nil, fmt.Errorf("INFRA: connect to RabbitMQ: %w", err)
	}
	e.inspect = conn
	return conn, nil
}

// QueueDepth returns how many messages wait, ready, in queue (unacked deliveries are not counted) and how many
// consumers it has. A queue that does not exist is an error.
func (e *Env) QueueDepth(queue string) (messages, consumers int, err error) {
	conn, err := e.inspector()
	if err != nil {
		return 0, 0, err
	}
	ch, err := conn.Channel()
	if err != nil {
		return 0, 0, fmt.Errorf("open channel: %w", err)
	}
	defer ch.Close()
	q, err := ch.QueueDeclarePassive(queue,
		false, // durable (ignored for a passive declare)
		false, // autoDelete
		false, // exclusive
		false, // noWait
		nil)
	if err != nil {
		return 0, 0, fmt.Errorf("queue %q: %w", e.Short(queue), err)
	}
	return q.Messages, q.Consumers, nil
}

// QueueExists reports whether queue exists on the broker.
func (e *Env) QueueExists(queue string) bool {
	_, _, err := e.QueueDepth(queue)
	var amqpErr *amqp.Error
	if errors.As(err, &amqpErr) && amqpErr.Code == amqp.NotFound {
		return false
	}
	return err == nil
}

// MustDepth is QueueDepth that fails the test on error, returning the ready count.
func (e *Env) MustDepth(queue string) int {
	e.T.Helper()
	n, _, err := e.QueueDepth(queue)
	if err != nil {
		e.T.Fatal(err)
	}
	return n
}

// WaitDrained waits until queue has no ready messages and no delivery to a manual-ack consumer is outstanding, and
// reports whether that happened within Patience. It returns as soon as it holds.
func (e *Env) WaitDrained(queue string) bool {
	return e.Eventually(func() bool {
		n, _, err := e.QueueDepth(queue)
		return err == nil && n == 0 && e.Unacked() == 0
	})
}

// cleanupBroker deletes every queue and exchange this test named or declared, and closes the inspector.
func (e *Env) cleanupBroker() {
	e.mu.Lock()
	names := make([]string, 0, len(e.names))
	for n := range e.names {
		names = append(names, n)
	}
	e.mu.Unlock()
	if len(names) == 0 && e.inspect == nil {
		return
	}
	sort.Strings(names)
	conn, err := e.inspector()
	if err != nil {
		e.T.Errorf("cleanup: %v", err)
		return
	}
	defer conn.Close()
	for _, n := range names {
		// A failed delete closes the channel, so each delete gets its own; deleting what does not exist is fine.
		if ch, err := conn.Channel(); err == nil {
			_, _ = ch.QueueDelete(n,
				false, // ifUnused
				false, // ifEmpty
				false) // noWait
			_ = ch.Close()
		}
		if ch, err := conn.Channel(); err == nil {
			_ = ch.ExchangeDelete(n,
				false, // ifUnused
				false) // noWait
			_ = ch.Close()
		}
	}
}

// Publisher is the test's own way to send shop messages (as ClientUI or as an upstream service would), with
// publisher confirms so that a test never starts from a message the broker did not take. Create with Env.Publisher.
// A Publisher is not safe for concurrent use.
type Publisher struct {
	env   *Env
	actor string
	ch    *amqp.Channel
}

// Publisher opens a confirmed channel for the test, recorded in the timeline as actor (e.g. "test", "sales").
func (e *Env) Publisher(actor string) *Publisher {
	e.T.Helper()
	p := e.Process(actor)
	conn := p.MustDial()
	ch, err := conn.Channel()
	if err != nil {
		e.T.Fatalf("open channel: %v", err)
	}
	if err := ch.Confirm(false); err != nil {
		e.T.Fatalf("confirm mode: %v", err)
	}
	return &Publisher{env: e, actor: p.Name, ch: ch}
}

// Send publishes m persistently with a fresh message id and waits for the broker's confirm; it returns the id.
func (p *Publisher) Send(exchange, key string, m shop.Message) string {
	p.env.T.Helper()
	id := p.env.NextMessageID()
	p.SendWithID(id, exchange, key, m)
	return id
}

// SendWithID publishes m with the given message id (use it twice to inject a duplicate) and waits for the confirm.
func (p *Publisher) SendWithID(id, exchange, key string, m shop.Message) {
	p.env.T.Helper()
	body, err := shop.Encode(m)
	if err != nil {
		p.env.T.Fatal(err)
	}
	p.Raw(exchange, key, amqp.Publishing{
		MessageId:    id,
		Type:         m.MessageType(),
		ContentType:  shop.ContentType,
		DeliveryMode: amqp.Persistent,
		Body:         body,
	})
}

// Raw publishes a prepared message (a malformed one, say) and waits for the broker's confirm.
func (p *Publisher) Raw(exchange, key string, msg amqp.Publishing) {
	p.env.T.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	dc, err := p.ch.PublishWithDeferredConfirmWithContext(ctx, exchange, key,
		false, // mandatory
		false, // immediate
		msg)
	if err != nil {
		p.env.T.Fatalf("publish %s: %v", msg.MessageId, err)
	}
	ok, err := dc.WaitContext(ctx)
	if err != nil || !ok {
		p.env.T.Fatalf("the broker did not confirm %s (ok=%v, err=%v): the test cannot start from it", msg.MessageId, ok, err)
	}
}

// Quiet is how long nothing may cross the wire before Settle calls the system idle. It only shortens the wait of a
// lab that is failing: a passing lab returns from Settle the moment its condition holds.
const Quiet = 100 * time.Millisecond

// Settle waits until done() holds, or until the system has gone quiet: every queue given is empty, no delivery is
// unacked, and no recorded connection has sent or received anything for Quiet. It returns done()'s final value.
// Tests call it before judging, so a failing lab fails in a fraction of a second instead of at a timeout, and a
// passing lab is never cut short (an unacked delivery or a waiting message keeps the wait going).
func (e *Env) Settle(done func() bool, queues ...string) bool {
	return e.SettleFor(Quiet, done, queues...)
}

// WaitConsumers waits until the broker counts exactly n consumers on queue, and reports whether that happened within
// Patience. After a process dies, WaitConsumers(queue, 0) returns once the broker has dropped its consumers, which it
// does in the same step as requeueing what they had not acked: from then on the redelivery is in the queue.
func (e *Env) WaitConsumers(queue string, n int) bool {
	return e.Eventually(func() bool {
		_, consumers, err := e.QueueDepth(queue)
		return err == nil && consumers == n
	})
}
