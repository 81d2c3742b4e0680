// Mistake replay-ack-first: the replay acks the message off the error queue first and sends it back after, so a crash in between loses it
// Why an attendee writes it: "take it out, put it back where it belongs" is how a move reads.

package poison

import (
	"context"
	"fmt"
	"time"

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
	msg := amqp.Publishing{
		MessageId:     d.MessageId, // the same message: Billing's inbox recognises a second replay of it
		CorrelationId: d.CorrelationId,
		Type:          d.Type,
		ContentType:   d.ContentType,
		DeliveryMode:  amqp.Persistent,
		Headers:       withoutDiagnosis(d.Headers),
		Body:          d.Body,
	}
	if err := d.Ack(false); err != nil { // multiple=false: take it out of the error queue first
		return fmt.Errorf("ack %s off the error queue: %w", d.MessageId, err)
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
	return nil
}

// withoutDiagnosis returns the message's own headers, without the ones Billing added while it retried and parked it.
func withoutDiagnosis(h amqp.Table) amqp.Table {
	out := amqp.Table{}
	for k, v := range h {
		switch k {
		case HeaderError, HeaderStack, HeaderOriginalQueue, HeaderAttempts, HeaderFailedAt, RetriesHeader:
		default:
			out[k] = v
		}
	}
	return out
}
