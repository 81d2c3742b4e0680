package poison

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"
)

// confirmTimeout caps the wait for the broker to confirm one replayed message.
const confirmTimeout = 5 * time.Second

// Replayer moves chosen messages from an error queue back to the queue they failed on, once whatever broke them is
// fixed (like "retry" in an operations console). A Replayer is not safe for concurrent use: Replay owns one channel.
type Replayer struct {
	Broker     *amqp.Connection // owned by the caller
	ErrorQueue string
}

// Replay moves the messages whose MessageId is in ids back to their original queue (HeaderOriginalQueue) and returns
// how many it moved. Each is published with a confirm, then acked off the error queue: a crash in between leaves the
// message in the error queue, so it may be replayed (and delivered) twice. Other messages stay where they are.
func (r *Replayer) Replay(ctx context.Context, ids []string) (int, error) {
	ch, err := r.Broker.Channel()
	if err != nil {
		return 0, fmt.Errorf("open channel: %w", err)
	}
	// Closing the channel puts back anything we got and did not ack.
	defer ch.Close()
	if err := ch.Confirm(false); err != nil { // noWait=false
		return 0, fmt.Errorf("confirm mode: %w", err)
	}
	chosen := map[string]bool{}
	for _, id := range ids {
		chosen[id] = true
	}
	moved := 0
	for {
		d, ok, err := ch.Get(r.ErrorQueue, false) // autoAck=false
		if err != nil {
			return moved, fmt.Errorf("get from %q: %w", r.ErrorQueue, err)
		}
		if !ok {
			return moved, nil // the error queue is empty (or holds only messages we keep unacked)
		}
		if !chosen[d.MessageId] {
			continue // not chosen: stays unacked until the channel closes, then goes back
		}
		if err := r.moveBack(ctx, ch, d); err != nil {
			return moved, err
		}
		moved++
	}
}

// moveBack publishes one parked message to its original queue, waits for the confirm, and acks it off the error queue.
func (r *Replayer) moveBack(ctx context.Context, ch *amqp.Channel, d amqp.Delivery) error {
	queue, _ := d.Headers[HeaderOriginalQueue].(string)
	if queue == "" {
		return fmt.Errorf("message %s has no %s header: cannot tell where it came from", d.MessageId, HeaderOriginalQueue)
	}
	// TODO(lab): a replay that gets a new MessageId is, to Billing's inbox, a brand-new order to charge. The move is
	// at-least-once (publish, then ack), so the same parked message can be replayed twice: keep what makes it the
	// same message, the way an operations console's "retry" does. And what Billing wrote on it when it parked it (the
	// diagnosis, its count of retries) belongs to that failure, not to the next try.
	msg := amqp.Publishing{
		MessageId:    uuid.NewString(), // a replay is a new send
		Type:         d.Type,
		ContentType:  d.ContentType,
		DeliveryMode: amqp.Persistent,
		Body:         d.Body,
	}
	ctx, cancel := context.WithTimeout(ctx, confirmTimeout)
	defer cancel()
	dc, err := ch.PublishWithDeferredConfirmWithContext(ctx,
		"",    // exchange: the default exchange routes by queue name
		queue, // routing key
		false, // mandatory
		false, // immediate
		msg)
	if err != nil {
		return fmt.Errorf("replay %s to %q: %w", d.MessageId, queue, err)
	}
	ok, err := dc.WaitContext(ctx)
	if err != nil {
		return fmt.Errorf("wait for the confirm of replayed %s: %w", d.MessageId, err)
	}
	if !ok {
		return fmt.Errorf("the broker refused replayed %s", d.MessageId)
	}
	if err := d.Ack(false); err != nil { // multiple=false
		return fmt.Errorf("ack %s off the error queue: %w", d.MessageId, err)
	}
	return nil
}
