// Do not edit: this test shows the failure.

package edges

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	amqp "github.com/rabbitmq/amqp091-go"

	"msglabs/shared/fault"
	"msglabs/shared/harness"
	"msglabs/shared/shop"
	"msglabs/shared/story"
)

// Step 2: Billing's re-publish. Billing runs in a process of its own; Shipping (the kit's code) runs in the test's.

// Billing publishes OrderBilled, then dies before its ack of OrderPlaced leaves. The broker redelivers OrderPlaced to
// the restarted Billing, a new process with no memory of the first; it does not charge again (its inbox) but
// publishes OrderBilled again, as it must. Shipping must still send one parcel.
func TestBilledAgainIsShippedOnce(t *testing.T) {
	env := harness.New(t)
	env.Exec(BillingSchema)
	env.Exec(ShippingSchema)
	events, billingQ, shippingQ := env.Name("events"), env.Name("billing"), env.Name("shipping")
	declare(env, events, billingQ, "OrderPlaced")
	declare(env, events, shippingQ, "OrderBilled")
	startShipping(env, shippingQ)

	billing := startBilling(env, "billing", events, billingQ)
	billing.CrashOn(fault.BeforeAckOf("m-1"))
	env.Publisher("sales").SendWithID("m-1", events, "OrderPlaced", shop.OrderPlaced{OrderID: "o-1", Customer: "ann", Cents: 4200})
	waitCrash(env, billing, "never acked m-1")
	brokerNoticed(env, billingQ)

	startBilling(env, "billing", events, billingQ) // billing#2: a new process
	env.Settle(func() bool {
		return len(env.Strings(`SELECT order_id FROM parcels`)) > 1 || (env.Deliveries("m-1") >= 2 && idle(env, billingQ, shippingQ))
	}, billingQ, shippingQ)

	env.ExactlyOnce(charged, []string{"o-1"}, env.Strings(`SELECT order_id FROM charges`))
	env.ExactlyOnce(shipped.Because("Billing died after publishing OrderBilled, before its ack of m-1 left, and the "+
		"restarted Billing (a new process) handled the redelivered m-1"), []string{"o-1"},
		env.Strings(`SELECT order_id FROM parcels`),
		"Shipping's inbox saw these OrderBilled ids: "+strings.Join(env.Strings(`SELECT message_id FROM shipping_inbox ORDER BY message_id`), ", "))
}

// Billing charges o-1 and dies right after the charge commits, before it publishes OrderBilled. The broker
// redelivers m-1 to the restarted Billing, which finds the charge in its inbox and must still bill it: the first
// attempt's OrderBilled never left. Shipping must send one parcel. (This passes in the starter; it fails when a
// redelivery that charges nothing publishes nothing.)
func TestBillingDiesBeforeItBillsStillShips(t *testing.T) {
	env := harness.New(t)
	env.Exec(BillingSchema)
	env.Exec(ShippingSchema)
	events, billingQ, shippingQ := env.Name("events"), env.Name("billing"), env.Name("shipping")
	declare(env, events, billingQ, "OrderPlaced")
	declare(env, events, shippingQ, "OrderBilled")
	startShipping(env, shippingQ)

	billing := startBilling(env, "billing", events, billingQ)
	billing.CrashOn(fault.AfterCommitTo("charges", 1))
	env.Publisher("sales").SendWithID("m-1", events, "OrderPlaced", shop.OrderPlaced{OrderID: "o-1", Customer: "ann", Cents: 4200})
	waitCrash(env, billing, "never committed the charge of m-1")
	brokerNoticed(env, billingQ)

	startBilling(env, "billing", events, billingQ) // billing#2: a new process
	env.Settle(func() bool {
		return env.Int(`SELECT count(*) FROM parcels`) > 0 && env.Idle(billingQ, shippingQ)
	}, billingQ, shippingQ)

	env.ExactlyOnce(charged, []string{"o-1"}, env.Strings(`SELECT order_id FROM charges`))
	env.ExactlyOnce(shipped.Because("Billing died right after the charge of m-1 committed, before it published "+
		"OrderBilled, and the restarted Billing (a new process) handled the redelivered m-1; Billing published: %s",
		orNone(publishedBy(env, "billing"))), []string{"o-1"}, env.Strings(`SELECT order_id FROM parcels`))
}

// orNone joins ids, or says "nothing".
func orNone(ids []string) string {
	if len(ids) == 0 {
		return "nothing"
	}
	return strings.Join(ids, ", ")
}

// The customer adds an item to order o-1 after it was placed: Sales sends a second OrderPlaced (m-2) for o-1, for
// the addition. Billing charges both and bills both. Shipping must send two parcels (an order may go out in several),
// and the shop's audit log, which records every event once with one inbox for all of them, must hold all four events.
// (This passes in the starter: it fails when OrderBilled's id says less than which message it is.)
func TestAddedItemIsBilledAndShippedToo(t *testing.T) {
	env := harness.New(t)
	env.Exec(BillingSchema)
	env.Exec(ShippingSchema)
	events, billingQ, shippingQ := env.Name("events"), env.Name("billing"), env.Name("shipping")
	declare(env, events, billingQ, "OrderPlaced")
	declare(env, events, shippingQ, "OrderBilled")
	startShipping(env, shippingQ)
	auditQ := startAudit(env, events)
	startBilling(env, "billing", events, billingQ)

	sales := env.Publisher("sales")
	sales.SendWithID("m-1", events, "OrderPlaced", shop.OrderPlaced{OrderID: "o-1", Customer: "ann", Cents: 4200})
	sales.SendWithID("m-2", events, "OrderPlaced", shop.OrderPlaced{OrderID: "o-1", Customer: "ann", Cents: 900})
	queues := []string{billingQ, shippingQ, auditQ}
	env.Settle(func() bool {
		return env.Int(`SELECT count(*) FROM parcels`) == 2 && env.Int(`SELECT count(*) FROM audit_log`) == 4 && idle(env, queues...)
	}, queues...)

	env.ExactlyOnce(charged, []string{"o-1 (42.00)", "o-1 (9.00)"},
		env.Strings(`SELECT order_id || ' (' || to_char(cents / 100.0, 'FM990.00') || ')' FROM charges`))
	billedIDs := strings.Join(publishedBy(env, "billing"), ", ")
	if n := env.Int(`SELECT count(*) FROM parcels`); n != 2 {
		env.Fail(story.Lost, "order o-1 was billed twice (m-1: 42.00, then m-2: 9.00 for the added item) but went out in "+
			"%d parcel(s): Shipping's inbox took one OrderBilled for a copy of the other; Billing published OrderBilled "+
			"with the ids %s", n, billedIDs)
	}
	env.ExactlyOnce(story.Expect{Item: "event", From: "published", Done: "recorded by the audit log"}.
		Because("Billing published OrderBilled with the ids %s, for OrderPlaced m-1 and m-2", billedIDs),
		[]string{"OrderPlaced o-1 (42.00)", "OrderPlaced o-1 (9.00)", "OrderBilled o-1 (42.00)", "OrderBilled o-1 (9.00)"},
		env.Strings(`SELECT event FROM audit_log`),
		"the audit log's inbox saw the ids: "+strings.Join(env.Strings(`SELECT message_id FROM audit_inbox ORDER BY message_id`), ", "))
}

// The customer adds the same 9.00 item to order o-1 twice: Sales sends two OrderPlaced (m-1, m-2) for o-1 that say
// the same thing but are two messages. Billing charges both and bills both. Shipping must send two
// parcels: two OrderBilled that say the same thing are still two events. (This passes in the starter: it fails when
// OrderBilled's id is made from what the message says rather than from which message it answers.)
func TestSameItemTwiceIsShippedTwice(t *testing.T) {
	env := harness.New(t)
	env.Exec(BillingSchema)
	env.Exec(ShippingSchema)
	events, billingQ, shippingQ := env.Name("events"), env.Name("billing"), env.Name("shipping")
	declare(env, events, billingQ, "OrderPlaced")
	declare(env, events, shippingQ, "OrderBilled")
	startShipping(env, shippingQ)
	startBilling(env, "billing", events, billingQ)

	sales := env.Publisher("sales")
	item := shop.OrderPlaced{OrderID: "o-1", Customer: "ann", Cents: 900}
	sales.SendWithID("m-1", events, "OrderPlaced", item)
	sales.SendWithID("m-2", events, "OrderPlaced", item)
	env.Settle(func() bool {
		return env.Int(`SELECT count(*) FROM parcels`) == 2 && idle(env, billingQ, shippingQ)
	}, billingQ, shippingQ)

	billedIDs := strings.Join(publishedBy(env, "billing"), ", ")
	if n := env.Int(`SELECT count(*) FROM charges`); n != 2 {
		env.Fail(story.Lost, "Billing made %d charge(s) for the two OrderPlaced m-1 and m-2 (o-1, 9.00 each)", n)
	}
	if n := env.Int(`SELECT count(*) FROM parcels`); n != 2 {
		env.Fail(story.Lost, "order o-1 was billed twice for the same 9.00 item (m-1, then m-2) but went out in %d "+
			"parcel(s): Shipping's inbox took the second OrderBilled for a copy of the first; Billing published "+
			"OrderBilled with the ids %s (an id made from what a message says is the same for two messages that "+
			"say the same thing)", n, billedIDs)
	}
}

// AuditSchema is the audit log's database: one inbox for every event it records.
const AuditSchema = `
CREATE TABLE audit_inbox (
	message_id text PRIMARY KEY
);
CREATE TABLE audit_log (
	event text NOT NULL -- "OrderBilled o-1 (42.00)"
)`

// startAudit starts the shop's audit log, written for this test: it records every OrderPlaced and OrderBilled it is
// sent, once, with one inbox for both types, as a read model or a data warehouse loader would. It returns its queue.
func startAudit(env *harness.Env, events string) string {
	env.T.Helper()
	env.Exec(AuditSchema)
	queue := env.Name("audit")
	declare(env, events, queue, "OrderPlaced", "OrderBilled")
	proc := env.Process("audit")
	conn, pool := proc.MustDial(), proc.Pool()
	proc.Go(func(ctx context.Context) error {
		ch, err := conn.Channel()
		if err != nil {
			return fmt.Errorf("open channel: %w", err)
		}
		defer ch.Close()
		deliveries, err := consume(ctx, ch, queue)
		if err != nil {
			return err
		}
		for d := range deliveries {
			if err := record(ctx, pool, d); err != nil {
				return err
			}
			if err := d.Ack(false); err != nil {
				return fmt.Errorf("ack %s: %w", d.MessageId, err)
			}
		}
		return nil
	})
	waitConsumer(env, proc, queue)
	return queue
}

// record writes one event to the audit log, unless its inbox has seen the message id.
func record(ctx context.Context, db *pgxpool.Pool, d amqp.Delivery) error {
	var ev struct {
		OrderID string `json:"order_id"`
		Cents   int    `json:"amount_cents"`
	}
	if err := json.Unmarshal(d.Body, &ev); err != nil {
		return fmt.Errorf("decode %s: %w", d.MessageId, err)
	}
	return pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO audit_inbox (message_id) VALUES ($1) ON CONFLICT DO NOTHING`, d.MessageId)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO audit_log (event) VALUES ($1)`,
			fmt.Sprintf("%s %s (%s)", d.Type, ev.OrderID, cents(ev.Cents)))
		return err
	})
}
