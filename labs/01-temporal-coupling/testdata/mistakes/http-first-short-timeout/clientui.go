// Mistake http-first-short-timeout: ClientUI still calls Sales over HTTP first, with a timeout shorter than the
// customer's patience, and queues the order when the call fails, so a stuck Sales still holds every customer
// The attendee sees the stuck-Sales test time out and shortens the timeout until the customer is answered in time: the
// customer still waits for Sales, only less.

package coupling

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"msglabs/shared/shop"
)

// salesTimeout is how long ClientUI waits for Sales before giving up on a request: well under the customer's patience.
const salesTimeout = 300 * time.Millisecond

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
	if c.callSales(r.Context(), cmd) == nil {
		w.WriteHeader(http.StatusAccepted)
		return
	}
	if err := c.sendToSales(r.Context(), cmd); err != nil {
		http.Error(w, "sorry, we could not take your order: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// callSales posts the order to Sales' HTTP endpoint, the fast path while Sales is up.
func (c *ClientUI) callSales(ctx context.Context, cmd shop.PlaceOrder) error {
	body, err := json.Marshal(cmd)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, salesTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.SalesURL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("sales answered %s", resp.Status)
	}
	return nil
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
			MessageId:    "place-" + cmd.OrderID,
			Type:         cmd.MessageType(),
			ContentType:  shop.ContentType,
			DeliveryMode: amqp.Persistent, // written to disk, survives a broker restart
			Body:         body,
		})
	if err != nil {
		return fmt.Errorf("send PlaceOrder %s: %w", cmd.OrderID, err)
	}
	return nil
}
