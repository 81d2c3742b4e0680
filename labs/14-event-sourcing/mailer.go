package sourcing

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	amqp "github.com/rabbitmq/amqp091-go"
)

// You do not need to edit this file: it is the Mailer service, which hands SendEmail commands to the mail provider.
// The provider sends whatever it is asked to send; an e-mail, once sent, cannot be taken back.

// confirmTimeout caps how long a publisher waits for the broker's confirm.
const confirmTimeout = 2 * time.Second

// SendEmail asks the Mailer to e-mail the customer of an order.
type SendEmail struct {
	OrderID string `json:"order_id"`
	Subject string `json:"subject"`
}

// Mailer consumes SendEmail commands and sends them. A Mailer is safe for concurrent use; each Consume owns its
// channel.
type Mailer struct {
	DB *pgxpool.Pool // where the provider logs what it sent (a stand-in for a real mail provider)
}

// DeclareMailQueue declares the Mailer's durable queue of SendEmail commands.
func DeclareMailQueue(ch *amqp.Channel, queue string) error {
	_, err := ch.QueueDeclare(queue,
		true,  // durable
		false, // autoDelete
		false, // exclusive
		false, // noWait
		nil)
	if err != nil {
		return fmt.Errorf("declare queue %q: %w", queue, err)
	}
	return nil
}

// Consume sends the e-mails waiting in queue until ctx is done, acking each one once it is sent.
func (m *Mailer) Consume(ctx context.Context, conn *amqp.Connection, queue string) error {
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}
	defer ch.Close()
	if err := DeclareMailQueue(ch, queue); err != nil {
		return err
	}
	deliveries, err := ch.ConsumeWithContext(ctx, queue,
		"",    // consumer tag: let the library choose
		false, // autoAck: we ack once the e-mail is sent
		false, // exclusive
		false, // noLocal
		false, // noWait
		nil)
	if err != nil {
		return fmt.Errorf("consume %q: %w", queue, err)
	}
	for d := range deliveries {
		var cmd SendEmail
		if err := json.Unmarshal(d.Body, &cmd); err != nil {
			_ = d.Reject(false) // requeue=false: it will never parse
			continue
		}
		_, err := m.DB.Exec(ctx, `INSERT INTO sent_emails (order_id, subject) VALUES ($1, $2)`, cmd.OrderID, cmd.Subject)
		if err != nil {
			return fmt.Errorf("send e-mail for %s: %w", cmd.OrderID, err)
		}
		if err := d.Ack(false); err != nil {
			return fmt.Errorf("ack %s: %w", d.MessageId, err)
		}
	}
	return nil
}

// RequestEmail sends a SendEmail command to the Mailer's queue, persistent, and waits for the broker's confirm.
// ch must be in confirm mode and is not safe for concurrent use.
func RequestEmail(ctx context.Context, ch *amqp.Channel, queue, messageID string, cmd SendEmail) error {
	body, err := json.Marshal(cmd)
	if err != nil {
		return fmt.Errorf("encode SendEmail: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, confirmTimeout)
	defer cancel()
	dc, err := ch.PublishWithDeferredConfirmWithContext(ctx,
		"",    // exchange: the default exchange routes by queue name
		queue, // routing key
		false, // mandatory
		false, // immediate
		amqp.Publishing{
			MessageId:    messageID,
			Type:         "SendEmail",
			ContentType:  "application/json",
			DeliveryMode: amqp.Persistent,
			Body:         body,
		})
	if err != nil {
		return fmt.Errorf("send SendEmail %s: %w", messageID, err)
	}
	ok, err := dc.WaitContext(ctx)
	if err != nil {
		return fmt.Errorf("confirm of SendEmail %s: %w", messageID, err)
	}
	if !ok {
		return fmt.Errorf("the broker refused SendEmail %s", messageID)
	}
	return nil
}
