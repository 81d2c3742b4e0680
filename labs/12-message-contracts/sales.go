package contracts

import (
	"context"
	"encoding/json"
	"fmt"

	amqp "github.com/rabbitmq/amqp091-go"
)

// You do not need to edit this file: it is Sales' side of OrderPlaced, as Sales ships it since its last release.
// Step 3 has you write the test that Sales' team should have had for it.

// Order is what checkout hands to Sales once the customer has paid.
type Order struct {
	ID       string
	Customer Customer
	Total    Total
}

// Sales publishes OrderPlaced v2 to its exchange, with the routing key OrderPlacedType. It owns the channel it was
// given (a Channel is not safe for concurrent use), so Place is not either.
type Sales struct {
	ch       *amqp.Channel
	exchange string
}

// NewSales declares Sales' exchange (a durable topic exchange) on ch, which must be in confirm mode, and returns a
// Sales that publishes there.
func NewSales(ch *amqp.Channel, exchange string) (*Sales, error) {
	err := ch.ExchangeDeclare(exchange, amqp.ExchangeTopic,
		true,  // durable
		false, // autoDelete
		false, // internal
		false, // noWait
		nil)
	if err != nil {
		return nil, fmt.Errorf("declare exchange %q: %w", exchange, err)
	}
	return &Sales{ch: ch, exchange: exchange}, nil
}

// orderPlacedVersion is the version of OrderPlaced that Sales publishes, as it says so in the VersionHeader.
const orderPlacedVersion = "2"

// Place publishes OrderPlaced v2 for o, persistent, and returns once the broker has confirmed it.
func (s *Sales) Place(ctx context.Context, o Order) error {
	body, err := json.Marshal(OrderPlacedV2{OrderID: o.ID, Customer: o.Customer, Total: o.Total})
	if err != nil {
		return fmt.Errorf("encode %s: %w", OrderPlacedType, err)
	}
	dc, err := s.ch.PublishWithDeferredConfirmWithContext(ctx, s.exchange,
		OrderPlacedType, // routing key
		false,           // mandatory
		false,           // immediate
		amqp.Publishing{
			MessageId:    "placed-" + o.ID,
			Type:         OrderPlacedType,
			Headers:      amqp.Table{VersionHeader: orderPlacedVersion},
			ContentType:  "application/json",
			DeliveryMode: amqp.Persistent,
			Body:         body,
		})
	if err != nil {
		return fmt.Errorf("publish %s %s: %w", OrderPlacedType, o.ID, err)
	}
	ok, err := dc.WaitContext(ctx)
	if err != nil {
		return fmt.Errorf("confirm of %s %s: %w", OrderPlacedType, o.ID, err)
	}
	if !ok {
		return fmt.Errorf("%s %s: %w", OrderPlacedType, o.ID, ErrRefused)
	}
	return nil
}
