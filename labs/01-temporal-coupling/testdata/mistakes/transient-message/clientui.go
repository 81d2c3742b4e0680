// Mistake transient-message: the PlaceOrder was published without DeliveryMode persistent, so a broker restart while
// Sales is down loses it
// The queue is durable, so the attendee believes what is in it is too; the line about persistent messages is easy to
// skim. It follows the last hint, which sets no Type either: the story must still name the order.

package coupling

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"msglabs/shared/shop"
)

// salesTimeout is how long ClientUI waits for Sales before giving up on a request.
const salesTimeout = 2 * time.Second

// ClientUI is the shop's web front end. Its POST /orders handler takes the customer's order and hands it to Sales.
// A ClientUI is safe for concurrent use: each request opens its own channel.
type ClientUI struct {
	SalesURL   string           // Sales' HTTP endpoint, no longer used for placing orders
	Broker     *amqp.Connection // a connection to RabbitMQ, owned by the caller
	SalesQueue string           // Sales' durable queue of PlaceOrder commands
}

// ServeHTTP handles POST /orders: the body is a PlaceOrder.
func (c *ClientUI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var cmd shop.PlaceOrder
	if err := json.NewDecoder(r.Body).Decode(&cmd); err != nil {
		http.Error(w, "bad order: "+err.Error(), http.StatusBadRequest)
		return
	}
	if err := c.sendToSales(r.Context(), cmd); err != nil {
		http.Error(w, "sorry, we could not take your order: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// sendToSales sends a PlaceOrder command to Sales' durable queue as a persistent message.
func (c *ClientUI) sendToSales(ctx context.Context, cmd shop.PlaceOrder) error {
	ch, err := c.Broker.Channel() // a channel per request: channels are not safe for concurrent use
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}
	defer ch.Close()
	if err := DeclareSalesQueue(ch, c.SalesQueue); err != nil {
		return err
	}
	body, err := shop.Encode(cmd)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, salesTimeout)
	defer cancel()
	err = ch.PublishWithContext(ctx,
		"",           // exchange: the default exchange routes by queue name
		c.SalesQueue, // routing key
		false,        // mandatory
		false,        // immediate
		amqp.Publishing{
			MessageId:   "place-" + cmd.OrderID,
			ContentType: shop.ContentType,
			Body:        body,
		})
	if err != nil {
		return fmt.Errorf("send PlaceOrder %s: %w", cmd.OrderID, err)
	}
	return nil
}
