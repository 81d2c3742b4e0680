package coupling

import (
	"bytes"
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
	SalesURL   string           // Sales' HTTP endpoint, e.g. "http://127.0.0.1:8081/orders"
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
	// TODO(lab): calling Sales here ties the customer's order to Sales being up, and quick, at this very moment: when
	// it is down the order exists nowhere, when it is stuck the customer waits. The order only has to reach Sales
	// eventually. Leave it where Sales will find it when it can (and where it survives a broker restart), and tell
	// the customer honestly what became of it.
	if err := c.callSales(cmd); err != nil {
		http.Error(w, "sorry, we could not take your order: "+err.Error(), http.StatusBadGateway)
		return
	}
	w.WriteHeader(http.StatusCreated)
}

// callSales posts the order to Sales' HTTP endpoint and waits for its answer.
func (c *ClientUI) callSales(cmd shop.PlaceOrder) error {
	body, err := json.Marshal(cmd)
	if err != nil {
		return fmt.Errorf("encode order: %w", err)
	}
	client := http.Client{Timeout: salesTimeout}
	resp, err := client.Post(c.SalesURL, "application/json", bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("call sales: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("sales answered %s", resp.Status)
	}
	return nil
}
