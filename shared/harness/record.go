package harness

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"msglabs/shared/infra"
	"msglabs/shared/story"
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
	// How the connection ended, as seen on the wire: a client that closes says so; a broker that closes gives a code.
	clientClosed bool
	serverClose  uint16
	// Which side ended the link, when the proxy can tell (LinkEnded): then the wire's clues are not needed.
	endKnown, byTarget bool
}

type chanState struct {
	confirm    bool
	prefetch   uint16            // basic.qos on this channel (0: no limit)
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

// record adds a structured entry said by this connection's process.
func (r *recorder) record(e story.Entry, format string, args ...any) {
	e.Actor, e.Text = r.actor, fmt.Sprintf(format, args...)
	r.env.Event(e)
}

func (r *recorder) handle(ev wire.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.ch(ev.Channel)
	switch ev.Kind {
	case wire.Publish:
		r.published(c, ev)
	case wire.Deliver, wire.GetOk:
		r.delivered(c, ev)
	case wire.Ack, wire.Nack, wire.Reject:
		if ev.FromServer {
			r.confirmed(c, ev)
			return
		}
		r.settled(c, ev)
	case wire.Return:
		r.record(story.Entry{Kind: story.Return, Message: ev.Props.MessageID, Peer: r.env.Short(ev.Exchange)},
			"broker RETURNED %s: %d %s (no queue is bound for %s)", label(ev), ev.ReplyCode, ev.ReplyText,
			route(r.env.Short, ev.Exchange, ev.RoutingKey))
	case wire.Consume, wire.Qos:
		r.consumer(c, ev)
	case wire.ConfirmSelect:
		c.confirm = true
	case wire.QueueDeclare, wire.ExchangeDeclare, wire.QueueBind:
		r.topology(ev)
	case wire.ChannelClose:
		r.dropChannel(ev.Channel)
		if ev.FromServer && ev.ReplyCode != replySuccess {
			r.log("broker closed channel %d: %d %s", ev.Channel, ev.ReplyCode, ev.ReplyText)
		}
	case wire.ConnectionClose:
		r.connectionClose(ev)
	}
}

// replySuccess is the reply code of a clean close (AMQP 0-9-1 REPLY_SUCCESS).
const replySuccess = 200

func (r *recorder) published(c *chanState, ev wire.Event) {
	l := label(ev)
	if c.confirm {
		c.published++
		c.pending[c.published] = l
	}
	peer := ev.Exchange
	if peer == "" {
		peer = ev.RoutingKey
	}
	r.record(story.Entry{Kind: story.Publish, Message: ev.Props.MessageID, Peer: r.env.Short(peer), TTL: ttl(ev)},
		"published %s → %s%s", l, route(r.env.Short, ev.Exchange, ev.RoutingKey), publishFlags(ev))
}

func (r *recorder) delivered(c *chanState, ev wire.Event) {
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
	r.record(story.Entry{Kind: story.Deliver, Message: ev.Props.MessageID, Peer: r.env.Short(from), Redelivered: ev.Redelivered},
		"received %s from %q%s", l, r.env.Short(from), how)
}

// consumer records a consumer starting (basic.consume) or its prefetch (basic.qos), both set-up.
func (r *recorder) consumer(c *chanState, ev wire.Event) {
	short := r.env.Short
	if ev.Kind == wire.Qos {
		c.prefetch = ev.PrefetchCount
		r.record(story.Entry{Kind: story.Consume}, "prefetch set to %d", ev.PrefetchCount)
		return
	}
	c.autoAck[ev.ConsumerTag] = ev.NoAck
	c.consumerOf[ev.ConsumerTag] = ev.Queue
	mode, brief := "manual ack", "manual ack, no prefetch limit"
	switch {
	case ev.NoAck:
		mode, brief = "auto-ack", "auto-ack"
	case c.prefetch > 0:
		brief = fmt.Sprintf("manual ack, prefetch %d", c.prefetch)
	}
	r.record(story.Entry{Kind: story.Consume, Peer: short(ev.Queue), Brief: fmt.Sprintf("%q (%s)", short(ev.Queue), brief)},
		"consuming from %q (%s)", short(ev.Queue), mode)
}

// topology records declares and binds (set-up), and registers the names they create before the broker sees them.
func (r *recorder) topology(ev wire.Event) {
	short := r.env.Short
	switch ev.Kind {
	case wire.QueueDeclare:
		r.env.remember(ev.Queue)
		if !ev.Passive {
			r.record(story.Entry{Kind: story.Declare, Peer: short(ev.Queue), Brief: fmt.Sprintf("queue %q%s", short(ev.Queue), transient(ev.Durable))},
				"declared queue %q (%s)", short(ev.Queue), durability(ev.Durable))
		}
	case wire.ExchangeDeclare:
		r.env.remember(ev.Exchange)
		if !ev.Passive {
			r.record(story.Entry{Kind: story.Declare, Peer: short(ev.Exchange), Brief: fmt.Sprintf("exchange %q%s", short(ev.Exchange), transient(ev.Durable))},
				"declared exchange %q (%s)", short(ev.Exchange), durability(ev.Durable))
		}
	case wire.QueueBind:
		r.record(story.Entry{Kind: story.Bind, Peer: short(ev.Queue),
			Brief: fmt.Sprintf("%q → %q by %q", short(ev.Exchange), short(ev.Queue), ev.RoutingKey)},
			"bound queue %q to exchange %q with key %q", short(ev.Queue), short(ev.Exchange), ev.RoutingKey)
	}
}

// connectionClose notes who closed the connection, and tells a broker's error close.
func (r *recorder) connectionClose(ev wire.Event) {
	if !ev.FromServer {
		r.clientClosed = true
		return
	}
	r.serverClose = ev.ReplyCode
	if ev.ReplyCode != replySuccess {
		r.log("broker closed the connection: %d %s", ev.ReplyCode, ev.ReplyText)
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
	id := messageID(labels)
	if ev.Kind == wire.Ack {
		r.record(story.Entry{Kind: story.Confirm, Message: id}, "broker confirmed %s", strings.Join(labels, ", "))
	} else {
		r.env.refusals.add(r.actor, len(labels))
		r.record(story.Entry{Kind: story.Refuse, Message: id}, "broker REFUSED %s (negative confirm: it did not take the message)", strings.Join(labels, ", "))
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
	e := story.Entry{Kind: story.Ack, Message: messageID(labels)}
	switch {
	case ev.Kind == wire.Ack:
		r.record(e, "acked %s", what)
	case ev.Requeue:
		e.Kind = settleKind(ev.Kind)
		r.record(e, "%s %s, requeue: the broker will deliver it again", verb(ev.Kind), what)
	default:
		e.Kind = settleKind(ev.Kind)
		r.record(e, "%s %s without requeue: the broker drops it (or dead-letters it, if the queue has a dead-letter exchange)", verb(ev.Kind), what)
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

// LinkEnded is for a proxy that can tell which side ended a link first: it calls it before Closed, with byTarget
// true when the broker's side did. Then Closed reports the link lost exactly when the broker's side ended it and the
// test did not cut it, whatever the wire showed (a child process that exits on its own ends its links without a
// close frame, and that is the attendee's code, not the broker).
func (r *recorder) LinkEnded(byTarget bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.endKnown, r.byTarget = true, byTarget
}

// Closed implements fault.Tap: the connection ended. Unacked deliveries go back to their queues. A connection that
// ended without a cut, without the client closing it and without a broker error aimed at the client was ended from
// the broker's side (unless the proxy said otherwise through LinkEnded): the Env is told the link was lost (INFRA).
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
	cut = cut && !r.clientClosed // a link cut after its client closed it (at cleanup) was closed, not lost
	lost := !cut && !r.clientClosed && (r.serverClose == 0 || r.serverClose == replyConnectionForced)
	if r.endKnown {
		lost = !cut && r.byTarget && (r.serverClose == 0 || r.serverClose == replyConnectionForced)
	}
	if lost {
		r.env.LostLink(infra.RabbitMQ, r.actor)
	}
	if !cut && !lost && len(all) == 0 {
		return
	}
	how, kind := "connection closed", story.Log
	if cut || lost {
		how, kind = "connection lost", story.Cut
	}
	e := story.Entry{Kind: kind, Peer: infra.RabbitMQ.Name}
	switch {
	case len(all) > 0:
		r.record(e, "%s: the broker requeues %d unacked message(s): %s", how, len(all), joinLabels(all))
	case r.autoAcks > 0:
		r.record(e, "%s: nothing unacked to requeue (%d message(s) had been auto-acked: the broker will not redeliver them)", how, r.autoAcks)
	default:
		r.record(e, "%s: nothing unacked to requeue", how)
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
	if ev.Props.Expiration != "" {
		f = append(f, "expires after "+ev.Props.Expiration+" ms")
	}
	if ev.Mandatory {
		f = append(f, "mandatory")
	}
	return " (" + strings.Join(f, ", ") + ")"
}

// ttl is a published message's per-message expiration, 0 without one (or with one that is not a number of ms).
func ttl(ev wire.Event) time.Duration {
	ms, err := strconv.ParseInt(ev.Props.Expiration, 10, 64)
	if err != nil {
		return 0
	}
	return time.Duration(ms) * time.Millisecond
}

// transient marks a non-durable queue or exchange in a set-up summary.
func transient(durable bool) string {
	if durable {
		return ""
	}
	return " (transient)"
}

// settleKind is the entry kind of a consumer's nack or reject.
func settleKind(k wire.Kind) story.Kind {
	if k == wire.Reject {
		return story.Reject
	}
	return story.Nack
}

// messageID returns the message id of the first label ("m-3 PlaceOrder o-17" → "m-3"), or "" when it has none.
func messageID(labels []string) string {
	if len(labels) == 0 || strings.HasSuffix(labels[0], "(no message id)") || strings.HasPrefix(labels[0], "a ") {
		return ""
	}
	id, _, _ := strings.Cut(labels[0], " ")
	return id
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
