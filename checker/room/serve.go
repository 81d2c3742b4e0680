package room

import (
	"context"
	"errors"
	"fmt"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Consumer settings of the dashboard.
const (
	prefetch       = 32              // deliveries in flight to the dashboard
	reconnectPause = 1 * time.Second // between attempts to reach a broker that went away
	storeTimeout   = 5 * time.Second // for storing one event
)

// Server is the dashboard of one room: it consumes the room's events into its durable queue, stores each under its
// id, and keeps the State the page shows. Create it with NewServer; Consume runs the consumer, Handler serves HTTP.
type Server struct {
	Room    string
	AMQPURL string
	Store   *Store
	State   *State
	Logf    func(format string, args ...any)
	Now     func() time.Time

	// afterStore, when set (by tests), runs after an event was stored and applied and before it is acked: the spot
	// where a crash makes the broker redeliver an event that was already counted.
	afterStore func(id string)

	hub hub
}

// NewServer makes the dashboard of a room and rebuilds its state from the events already stored.
func NewServer(ctx context.Context, room, amqpURL string, store *Store, logf func(string, ...any)) (*Server, error) {
	if err := ValidRoom(room); err != nil {
		return nil, err
	}
	s := &Server{Room: room, AMQPURL: amqpURL, Store: store, State: NewState(room), Logf: logf, Now: time.Now}
	s.hub.init()
	if err := store.Replay(ctx, room, s.State.Apply); err != nil {
		return nil, err
	}
	return s, nil
}

// Declare creates the room's exchange and the dashboard's durable queue bound to it (both idempotent). Attendees'
// events are kept in the queue from then on, also while no dashboard runs.
func Declare(ch *amqp.Channel, room string) error {
	if err := ch.ExchangeDeclare(Exchange(room), amqp.ExchangeFanout,
		true,  // durable
		false, // autoDelete
		false, // internal
		false, // noWait
		nil); err != nil {
		return fmt.Errorf("declare exchange %q: %w", Exchange(room), err)
	}
	if _, err := ch.QueueDeclare(Queue(room),
		true,  // durable: events wait here while the dashboard is down
		false, // autoDelete
		false, // exclusive
		false, // noWait
		nil); err != nil {
		return fmt.Errorf("declare queue %q: %w", Queue(room), err)
	}
	if err := ch.QueueBind(Queue(room), "", Exchange(room), false, nil); err != nil { // noWait
		return fmt.Errorf("bind queue %q: %w", Queue(room), err)
	}
	return nil
}

// Consume runs the consumer until ctx ends, reconnecting when the broker goes away. It returns nil when ctx ended,
// or the first error of the first connection (a wrong URL should stop `room serve` at once, not loop).
func (s *Server) Consume(ctx context.Context, ready func()) error {
	first := true
	for {
		err := s.consumeOnce(ctx, func() {
			first = false
			if ready != nil {
				ready()
			}
		})
		if ctx.Err() != nil {
			return nil
		}
		if first {
			return err
		}
		s.Logf("room: lost the broker (%v); reconnecting", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(reconnectPause):
		}
	}
}

func (s *Server) consumeOnce(ctx context.Context, ready func()) error {
	conn, err := amqp.DialConfig(s.AMQPURL, amqp.Config{Properties: amqp.Table{"connection_name": "msglabs room dashboard " + s.Room}})
	if err != nil {
		return fmt.Errorf("connect to the room's broker: %w", err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open a channel: %w", err)
	}
	if err := Declare(ch, s.Room); err != nil {
		return err
	}
	if err := ch.Qos(prefetch, 0, false); err != nil { // global
		return fmt.Errorf("set prefetch: %w", err)
	}
	deliveries, err := ch.ConsumeWithContext(ctx, Queue(s.Room), "",
		false, // autoAck: ack only once the event is stored
		false, // exclusive
		false, // noLocal
		false, // noWait
		nil)
	if err != nil {
		return fmt.Errorf("consume from %q: %w", Queue(s.Room), err)
	}
	ready()
	closed := conn.NotifyClose(make(chan *amqp.Error, 1))
	for {
		select {
		case <-ctx.Done():
			return nil
		case e := <-closed:
			return fmt.Errorf("connection closed: %v", e)
		case d, ok := <-deliveries:
			if !ok {
				return errors.New("the broker ended the consumer")
			}
			if err := s.handle(ctx, d); err != nil {
				return err
			}
		}
	}
}

// handle stores one delivery's event and acks it; an event already stored is acked without counting it again; a
// message that is not an event is dropped (acked, logged). A store failure nacks it back onto the queue and ends
// this connection, so the event waits in the queue until the database answers again.
func (s *Server) handle(ctx context.Context, d amqp.Delivery) error {
	e, err := Decode(d.Body)
	if err != nil {
		s.Logf("room: dropped a message that is not a room event (%v)", err)
		return ack(d)
	}
	sctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	now := s.Now()
	added, err := s.Store.Add(sctx, s.Room, e, now)
	if err != nil {
		_ = d.Nack(false, true) // multiple, requeue: it stays in the queue
		return err
	}
	if added {
		s.State.Apply(e, now)
		s.hub.changed()
	}
	if s.afterStore != nil {
		s.afterStore(e.ID)
	}
	return ack(d)
}

func ack(d amqp.Delivery) error {
	if err := d.Ack(false); err != nil { // multiple
		return fmt.Errorf("ack: %w", err)
	}
	return nil
}
