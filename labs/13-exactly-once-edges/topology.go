package edges

import (
	"context"
	"fmt"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"msglabs/shared/shop"
)

// You do not need to edit this file: it declares the shop's exchange and queues and publishes with confirms, as the
// earlier labs taught.

// confirmTimeout caps how long a publisher waits for the broker's confirm.
const confirmTimeout = 2 * time.Second

// DeclareEvents declares the shop's topic exchange of events (durable). Routing keys are message types.
func DeclareEvents(ch *amqp.Channel, exchange string) error {
	err := ch.ExchangeDeclare(exchange, "topic",
		true,  // durable
		false, // autoDelete
		false, // internal
		false, // noWait
		nil)
	if err != nil {
		return fmt.Errorf("declare exchange %q: %w", exchange, err)
	}
	return nil
}

// DeclareSubscriber declares a durable queue and binds it to the events exchange for one message type.
func DeclareSubscriber(ch *amqp.Channel, exchange, queue, messageType string) error {
	if err := DeclareEvents(ch, exchange); err != nil {
		return err
	}
	_, err := ch.QueueDeclare(queue,
		true,  // durable
		false, // autoDelete
		false, // exclusive
		false, // noWait
		nil)
	if err != nil {
		return fmt.Errorf("declare queue %q: %w", queue, err)
	}
	if err := ch.QueueBind(queue, messageType, exchange, false /* noWait */, nil); err != nil {
		return fmt.Errorf("bind queue %q to %q: %w", queue, exchange, err)
	}
	return nil
}

// Publish publishes m to the events exchange as a persistent message with the given id, and waits for the broker's
// confirm: it returns nil only once the broker has the message. ch must be in confirm mode and is not safe for
// concurrent use: one goroutine publishes on it.
func Publish(ctx context.Context, ch *amqp.Channel, exchange, messageID string, m shop.Message) error {
	body, err := shop.Encode(m)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, confirmTimeout)
	defer cancel()
	dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, exchange, m.MessageType(),
		false, // mandatory
		false, // immediate
		amqp.Publishing{
			MessageId:    messageID,
			Type:         m.MessageType(),
			ContentType:  shop.ContentType,
			DeliveryMode: amqp.Persistent,
			Body:         body,
		})
	if err != nil {
		return fmt.Errorf("publish %s %s: %w", m.MessageType(), messageID, err)
	}
	ok, err := dc.WaitContext(ctx)
	if err != nil {
		return fmt.Errorf("confirm of %s %s: %w", m.MessageType(), messageID, err)
	}
	if !ok {
		return fmt.Errorf("the broker refused %s %s", m.MessageType(), messageID)
	}
	return nil
}

// consume starts a manual-ack consumer with a prefetch of one on ch.
func consume(ctx context.Context, ch *amqp.Channel, queue string) (<-chan amqp.Delivery, error) {
	if err := ch.Qos(1, 0, false /* global */); err != nil {
		return nil, fmt.Errorf("set prefetch: %w", err)
	}
	deliveries, err := ch.ConsumeWithContext(ctx, queue,
		"",    // consumer tag: let the library choose
		false, // autoAck: we ack after the work is committed
		false, // exclusive
		false, // noLocal
		false, // noWait
		nil)
	if err != nil {
		return nil, fmt.Errorf("consume %q: %w", queue, err)
	}
	return deliveries, nil
}
