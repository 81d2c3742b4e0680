package contracts

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5/pgxpool"
	amqp "github.com/rabbitmq/amqp091-go"
)

// You do not need to edit this file: the Mailer e-mails invoices to customers, through an e-mail gateway (here an
// in-process fake of the third-party service).

// Mailer consumes InvoiceIssued from its queue and e-mails each invoice. It owns the channel it opens on conn.
type Mailer struct {
	DB      *pgxpool.Pool // where claims are redeemed (OpenInvoice)
	Queue   string
	Gateway *EmailGateway
	Log     func(format string, args ...any)
}

// Consume handles InvoiceIssued until ctx is done. A message it cannot read or open is rejected (retrying will not
// help); a failed e-mail is nacked with requeue, so the broker delivers it again.
func (m *Mailer) Consume(ctx context.Context, conn *amqp.Connection) error {
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}
	defer ch.Close()
	if err := DeclareInvoiceQueue(ch, m.Queue); err != nil {
		return err
	}
	deliveries, err := ch.ConsumeWithContext(ctx, m.Queue,
		"",    // consumer tag: let the library choose
		false, // autoAck
		false, // exclusive
		false, // noLocal
		false, // noWait
		nil)
	if err != nil {
		return fmt.Errorf("consume %q: %w", m.Queue, err)
	}
	for d := range deliveries {
		if err := m.handle(ctx, d); err != nil {
			return err
		}
	}
	return nil
}

func (m *Mailer) handle(ctx context.Context, d amqp.Delivery) error {
	var msg InvoiceIssued
	if err := json.Unmarshal(d.Body, &msg); err != nil {
		m.log("cannot read %s: %v", d.MessageId, err)
		return d.Reject(false) // requeue=false
	}
	pdf, err := OpenInvoice(ctx, m.DB, msg)
	if err != nil {
		m.log("cannot open the invoice for %s: %v", msg.OrderID, err)
		return d.Reject(false) // requeue=false: it will not open on a retry either
	}
	if err := m.Gateway.Send(msg.OrderID, pdf); err != nil {
		m.log("e-mail for %s failed: %v; the broker will deliver the message again", msg.OrderID, err)
		return d.Nack(false, true) // multiple=false, requeue=true
	}
	return d.Ack(false)
}

func (m *Mailer) log(format string, args ...any) {
	if m.Log != nil {
		m.Log(format, args...)
	}
}

// Email is one invoice e-mailed to a customer: the order and a fingerprint of the attached PDF.
type Email struct {
	OrderID string
	SHA256  string
}

// ErrGatewayDown is the e-mail gateway's answer while it is unavailable.
var ErrGatewayDown = errors.New("e-mail gateway unavailable (503)")

// EmailGateway is a fake of the e-mail service. It is safe for concurrent use.
type EmailGateway struct {
	Log func(format string, args ...any)
	// Notify, when set, is told of every e-mail sent (the test hears of them from the Mailer's process this way).
	Notify func(Email)

	mu       sync.Mutex
	failNext int
	sent     []Email
}

// FailNext makes the next n sends fail with ErrGatewayDown.
func (g *EmailGateway) FailNext(n int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.failNext = n
}

// Send e-mails the invoice of orderID.
func (g *EmailGateway) Send(orderID string, pdf []byte) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.failNext > 0 {
		g.failNext--
		g.log("is down (injected): the invoice for %s is not sent", orderID)
		return ErrGatewayDown
	}
	e := Email{OrderID: orderID, SHA256: Fingerprint(pdf)}
	g.sent = append(g.sent, e)
	g.log("e-mailed the invoice for %s (%s PDF)", orderID, size(len(pdf)))
	if g.Notify != nil {
		g.Notify(e)
	}
	return nil
}

// Sent returns the e-mails sent so far.
func (g *EmailGateway) Sent() []Email {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]Email(nil), g.sent...)
}

func (g *EmailGateway) log(format string, args ...any) {
	if g.Log != nil {
		g.Log(format, args...)
	}
}

// Fingerprint is the SHA-256 of a PDF, in hex.
func Fingerprint(pdf []byte) string {
	sum := sha256.Sum256(pdf)
	return hex.EncodeToString(sum[:])
}
