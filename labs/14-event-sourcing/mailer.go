package sourcing

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	amqp "github.com/rabbitmq/amqp091-go"
)

// You do not need to edit this file: it is the Mailer service, which hands SendEmail commands to the mail provider.
// An e-mail, once sent, cannot be taken back. Like every consumer since lab 5, the Mailer is idempotent: it sends
// each e-mail id once. Like a mail provider's idempotency key (lab 13), an id is remembered for keyWindow only;
// after that the same id is a new e-mail.

// confirmTimeout caps how long a publisher waits for the broker's confirm.
const confirmTimeout = 2 * time.Second

// keyWindow is how long the Mailer remembers an e-mail id: a SendEmail whose id was sent within it is a repeat and
// is dropped; an older id is forgotten, and sent again.
const keyWindow = 24 * time.Hour

// SendEmail asks the Mailer to e-mail the customer of an order.
type SendEmail struct {
	OrderID string `json:"order_id"`
	Subject string `json:"subject"`
}

// Mailer consumes SendEmail commands and sends them, each e-mail id once within keyWindow. A Mailer is safe for
// concurrent use; each Consume owns its channel.
type Mailer struct {
	DB  *pgxpool.Pool    // the provider's own database (MailSchema): its idempotency keys and what it sent
	Now func() time.Time // the Mailer's clock; nil is time.Now
	Log func(format string, args ...any)
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
		if err := m.send(ctx, d.MessageId, cmd); err != nil {
			return err
		}
		if err := d.Ack(false); err != nil {
			return fmt.Errorf("ack %s: %w", d.MessageId, err)
		}
	}
	return nil
}

// send sends the e-mail with id emailID unless that id was sent within keyWindow: the key and the e-mail commit
// together, so a crash cannot keep one without the other.
func (m *Mailer) send(ctx context.Context, emailID string, cmd SendEmail) error {
	now := m.now()
	var fresh bool
	err := pgx.BeginFunc(ctx, m.DB, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `
			INSERT INTO mail_keys (email_id, sent_at) VALUES ($1, $2)
			ON CONFLICT (email_id) DO UPDATE SET sent_at = EXCLUDED.sent_at
			WHERE mail_keys.sent_at <= $3`, emailID, now, now.Add(-keyWindow))
		if err != nil {
			return err
		}
		if fresh = tag.RowsAffected() == 1; !fresh {
			return nil
		}
		_, err = tx.Exec(ctx, `INSERT INTO sent_emails (email_id, order_id, subject) VALUES ($1, $2, $3)`,
			emailID, cmd.OrderID, cmd.Subject)
		return err
	})
	if err != nil {
		return fmt.Errorf("send e-mail %s for %s: %w", emailID, cmd.OrderID, err)
	}
	if fresh {
		m.logf("sent e-mail %s to the customer of %s", emailID, cmd.OrderID)
	} else {
		m.logf("dropped SendEmail %s: an e-mail with that id went out less than %v ago", emailID, keyWindow)
	}
	return nil
}

func (m *Mailer) now() time.Time {
	if m.Now == nil {
		return time.Now()
	}
	return m.Now()
}

func (m *Mailer) logf(format string, args ...any) {
	if m.Log != nil {
		m.Log(format, args...)
	}
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
