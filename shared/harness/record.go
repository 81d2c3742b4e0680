package harness

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"

	"msglabs/shared/wire"
)

// recorder turns the AMQP traffic of one proxied connection into timeline lines, and tracks what is unacked so a
// crash can say which messages the broker will redeliver (and which it cannot, because they were auto-acked).
// Both directions write to it concurrently; a mutex keeps its state.
type recorder struct {
	env   *Env
	actor string

	mu       sync.Mutex
	channels map[uint16]*chanState
	autoAcks int // deliveries received by auto-ack consumers: settled the moment they were sent
}

type chanState struct {
	confirm    bool
	published  uint64            // publish sequence number, counted once confirm mode is on
	pending    map[uint64]string // confirm seq → message label
	unacked    map[uint64]string // delivery tag → message label, manual-ack deliveries only
	autoAck    map[string]bool   // consumer tag → auto-ack
	consumerOf map[string]string // consumer tag → queue
}

func newRecorder(e *Env, actor string) *recorder {
	return &recorder{env: e, actor: actor, channels: map[uint16]*chanState{}}
}

// Up and Down implement fault.Tap.
func (r *recorder) Up() io.Writer   { return wire.NewStream(false, r.handle) }
func (r *recorder) Down() io.Writer { return wire.NewStream(true, r.handle) }

func (r *recorder) ch(n uint16) *chanState {
	c := r.channels[n]
	if c == nil {
		c = &chanState{pending: map[uint64]string{}, unacked: map[uint64]string{}, autoAck: map[string]bool{}, consumerOf: map[string]string{}}
		r.channels[n] = c
	}
	return c
}

func (r *recorder) log(format string, args ...any) { r.env.Log(r.actor, format, args...) }

func (r *recorder) handle(ev wire.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.ch(ev.Channel)
	short := r.env.Short
	switch ev.Kind {
	case wire.Publish:
		l := label(ev)
		if c.confirm {
			c.published++
			c.pending[c.published] = l
		}
		r.log("published %s → %s%s", l, route(short, ev.Exchange, ev.RoutingKey), publishFlags(ev))
	case wire.Deliver, wire.GetOk:
		l := label(ev)
		r.env.countDelivery(ev.Props.MessageID)
		how := ""
		if ev.Kind == wire.Deliver && c.autoAck[ev.ConsumerTag] {
			r.autoAcks++
			how = " (auto-ack: the broker forgot it as it sent it)"
		} else {
			c.unacked[ev.DeliveryTag] = l
			r.env.unacked.Add(1)
		}
		if ev.Redelivered {
			how += " (REDELIVERED)"
		}
		from := c.consumerOf[ev.ConsumerTag]
		if from == "" {
			from = ev.RoutingKey
		}
		r.log("received %s from %q%s", l, short(from), how)
	case wire.Ack, wire.Nack, wire.Reject:
		if ev.FromServer {
			r.confirmed(c, ev)
			return
		}
		r.settled(c, ev)
	case wire.Return:
		r.log("broker RETURNED %s: %d %s (no queue is bound for %s)", label(ev), ev.ReplyCode, ev.ReplyText, route(short, ev.Exchange, ev.RoutingKey))
	case wire.Consume:
		c.autoAck[ev.ConsumerTag] = ev.NoAck
		c.consumerOf[ev.ConsumerTag] = ev.Queue
		mode := "manual ack"
		if ev.NoAck {
			mode = "auto-ack"
		}
		r.log("consuming from %q (%s)", short(ev.Queue), mode)
	case wire.Qos:
		r.log("prefetch set to %d", ev.PrefetchCount)
	case wire.ConfirmSelect:
		c.confirm = true
	case wire.QueueDeclare:
		r.env.remember(ev.Queue)
		if !ev.Passive {
			r.log("declared queue %q (%s)", short(ev.Queue), durability(ev.Durable))
		}
	case wire.ExchangeDeclare:
		r.env.remember(ev.Exchange)
		if !ev.Passive {
			r.log("declared exchange %q (%s)", short(ev.Exchange), durability(ev.Durable))
		}
	case wire.QueueBind:
		r.log("bound queue %q to exchange %q with key %q", short(ev.Queue), short(ev.Exchange), ev.RoutingKey)
	case wire.ChannelClose:
		r.dropChannel(ev.Channel)
		if ev.FromServer && ev.ReplyCode != 200 {
			r.log("broker closed channel %d: %d %s", ev.Channel, ev.ReplyCode, ev.ReplyText)
		}
	case wire.ConnectionClose:
		if ev.FromServer && ev.ReplyCode != 200 {
			r.log("broker closed the connection: %d %s", ev.ReplyCode, ev.ReplyText)
		}
	}
}

// confirmed handles the broker's publisher confirms (ack: it has the message; nack: it refused it).
func (r *recorder) confirmed(c *chanState, ev wire.Event) {
	var labels []string
	for _, seq := range tags(c.pending, ev.DeliveryTag, ev.Multiple) {
		labels = append(labels, c.pending[seq])
		delete(c.pending, seq)
	}
	if len(labels) == 0 {
		return
	}
	if ev.Kind == wire.Ack {
		r.log("broker confirmed %s", strings.Join(labels, ", "))
	} else {
		r.env.refusals.add(r.actor, len(labels))
		r.log("broker REFUSED %s (negative confirm: it did not take the message)", strings.Join(labels, ", "))
	}
}

// settled handles a consumer's ack, nack or reject.
func (r *recorder) settled(c *chanState, ev wire.Event) {
	var labels []string
	for _, tag := range tags(c.unacked, ev.DeliveryTag, ev.Multiple) {
		labels = append(labels, c.unacked[tag])
		delete(c.unacked, tag)
		r.env.unacked.Add(-1)
	}
	if len(labels) == 0 {
		return
	}
	what := strings.Join(labels, ", ")
	switch {
	case ev.Kind == wire.Ack:
		r.log("acked %s", what)
	case ev.Requeue:
		r.log("%s %s, requeue: the broker will deliver it again", verb(ev.Kind), what)
	default:
		r.log("%s %s without requeue: the broker drops it (or dead-letters it, if the queue has a dead-letter exchange)", verb(ev.Kind), what)
	}
}

func (r *recorder) dropChannel(n uint16) {
	c := r.channels[n]
	if c == nil {
		return
	}
	if len(c.unacked) > 0 {
		r.log("channel %d closed with %d unacked: the broker requeues %s", n, len(c.unacked), joinLabels(c.unacked))
		r.env.unacked.Add(-int64(len(c.unacked)))
	}
	delete(r.channels, n)
}

// Closed implements fault.Tap: the connection ended. Unacked deliveries go back to their queues.
func (r *recorder) Closed(cut bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	all := map[uint64]string{}
	n := 0
	for _, c := range r.channels {
		for tag, l := range c.unacked {
			all[uint64(n)<<32|tag] = l
		}
		n++
		r.env.unacked.Add(-int64(len(c.unacked)))
	}
	r.channels = map[uint16]*chanState{}
	if !cut && len(all) == 0 {
		return
	}
	how := "connection closed"
	if cut {
		how = "connection lost"
	}
	switch {
	case len(all) > 0:
		r.log("%s: the broker requeues %d unacked message(s): %s", how, len(all), joinLabels(all))
	case r.autoAcks > 0:
		r.log("%s: nothing unacked to requeue (%d message(s) had been auto-acked: the broker will not redeliver them)", how, r.autoAcks)
	default:
		r.log("%s: nothing unacked to requeue", how)
	}
}

// tags returns the keys of m settled by an ack of tag (all up to tag when multiple), in order.
func tags(m map[uint64]string, tag uint64, multiple bool) []uint64 {
	var out []uint64
	for k := range m {
		if k == tag || (multiple && k <= tag) || (multiple && tag == 0) {
			out = append(out, k)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func joinLabels(m map[uint64]string) string {
	keys := make([]uint64, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, m[k])
	}
	return strings.Join(parts, ", ")
}

// label names a message for a human: its id, its type and the order it is about, e.g. "m-3 PlaceOrder o-17".
func label(ev wire.Event) string {
	var parts []string
	if ev.Props.MessageID != "" {
		parts = append(parts, ev.Props.MessageID)
	}
	if ev.Props.Type != "" {
		parts = append(parts, ev.Props.Type)
	}
	if about := aboutOrder(ev.Body); about != "" {
		parts = append(parts, about)
	}
	if ev.Props.MessageID == "" {
		parts = append(parts, "(no message id)")
	}
	if len(parts) == 0 {
		return fmt.Sprintf("a %d-byte message", ev.BodySize)
	}
	return strings.Join(parts, " ")
}

// aboutOrder peeks into a JSON body for the order it concerns.
func aboutOrder(body []byte) string {
	var fields map[string]any
	if json.Unmarshal(body, &fields) != nil {
		return ""
	}
	for _, k := range []string{"order_id", "orderId", "OrderID"} {
		if s, ok := fields[k].(string); ok {
			return s
		}
	}
	return ""
}

func route(short func(string) string, exchange, key string) string {
	if exchange == "" {
		return fmt.Sprintf("queue %q (default exchange)", short(key))
	}
	return fmt.Sprintf("exchange %q key %q", short(exchange), key)
}

func publishFlags(ev wire.Event) string {
	var f []string
	if ev.Props.DeliveryMode == 2 {
		f = append(f, "persistent")
	} else {
		f = append(f, "transient")
	}
	if ev.Mandatory {
		f = append(f, "mandatory")
	}
	return " (" + strings.Join(f, ", ") + ")"
}

func durability(durable bool) string {
	if durable {
		return "durable"
	}
	return "transient: gone if the broker restarts"
}

func verb(k wire.Kind) string {
	if k == wire.Reject {
		return "rejected"
	}
	return "nacked"
}
