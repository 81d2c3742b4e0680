package fault

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"sort"
	"sync"
	"time"

	"msglabs/shared/wire"
)

// AMQP 0-9-1 framing: the client opens with an 8-byte protocol header, then both sides send frames of a 7-byte
// header (type, channel, payload size), the payload and a frame-end octet.
const (
	amqpProtocolHeader = "AMQP\x00\x00\x09\x01"
	amqpFrameHeader    = 7
	amqpFrameEnd       = 1
	amqpMaxFrame       = 1 << 28 // far above any frame_max a broker negotiates
)

// amqpLink follows one broker connection of a watched process. Each direction feeds its own wire.Stream, one frame at
// a time, so the events of a frame are known before the frame is forwarded; the channel state both directions share
// is under mu.
type amqpLink struct {
	w            *Watch
	up, down     *wire.Stream
	upEvents     []wire.Event // filled by up's emit during one Inspect (the up goroutine only)
	downEvents   []wire.Event
	headerPassed bool // the client's protocol header (up goroutine only)

	mu       sync.Mutex
	channels map[uint16]*amqpChannel
	asked    bool   // the client sent connection.close
	said     string // the broker's connection.close, if it sent one
}

type amqpChannel struct {
	confirm   bool
	published uint64            // publishes since confirm.select
	awaiting  map[uint64]string // publish sequence number → message id, until confirmed
	tags      map[uint64]string // delivery tag → message id
	held      map[uint64]Held   // delivery tag → held, for manual-ack consumer deliveries
	autoAck   map[string]bool   // consumer tag → consumes with auto-ack
}

// AMQP returns an Inspector for one broker connection of the process (use it as Options.Inspect).
func (w *Watch) AMQP() Inspector {
	l := &amqpLink{w: w, channels: map[uint16]*amqpChannel{}}
	l.up = wire.NewStream(false, func(ev wire.Event) { l.upEvents = append(l.upEvents, ev) })
	l.down = wire.NewStream(true, func(ev wire.Event) { l.downEvents = append(l.downEvents, ev) })
	w.addLink(l)
	return l
}

func (l *amqpLink) Split(dir Direction, buf []byte) int {
	if dir == Up && !l.headerPassed {
		if len(buf) < len(amqpProtocolHeader) {
			return 0
		}
		if !bytes.HasPrefix(buf, []byte("AMQP")) {
			return -1
		}
		return len(amqpProtocolHeader)
	}
	if len(buf) < amqpFrameHeader {
		return 0
	}
	size := int(binary.BigEndian.Uint32(buf[3:amqpFrameHeader]))
	if size > amqpMaxFrame {
		return -1
	}
	if n := amqpFrameHeader + size + amqpFrameEnd; len(buf) >= n {
		return n
	}
	return 0
}

func (l *amqpLink) Inspect(dir Direction, msg []byte) Verdict {
	if dir == Up {
		l.headerPassed = true
		l.upEvents = l.upEvents[:0]
		_, _ = l.up.Write(msg)
		return l.judge(l.upEvents)
	}
	l.downEvents = l.downEvents[:0]
	_, _ = l.down.Write(msg)
	return l.judge(l.downEvents)
}

func (l *amqpLink) Ended() (bool, string) {
	l.w.dropLink(l)
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.asked, l.said
}

// judge applies the events of one frame to the link's state and to the process's triggers.
func (l *amqpLink) judge(events []wire.Event) Verdict {
	var v Verdict
	for _, ev := range events {
		if got := l.apply(ev); v.Action == Forward {
			v = got
		}
	}
	return v
}

func (l *amqpLink) channel(n uint16) *amqpChannel {
	c := l.channels[n]
	if c == nil {
		c = &amqpChannel{awaiting: map[uint64]string{}, tags: map[uint64]string{}, held: map[uint64]Held{},
			autoAck: map[string]bool{}}
		l.channels[n] = c
	}
	return c
}

func (l *amqpLink) apply(ev wire.Event) Verdict {
	l.mu.Lock()
	c := l.channel(ev.Channel)
	var ids []string
	kind := triggerKind(0)
	switch ev.Kind {
	case wire.Publish:
		if c.confirm {
			c.published++
			c.awaiting[c.published] = ev.Props.MessageID
		}
		kind = beforePublish
	case wire.Deliver, wire.GetOk:
		c.tags[ev.DeliveryTag] = ev.Props.MessageID
		if ev.Kind == wire.Deliver && !c.autoAck[ev.ConsumerTag] {
			c.held[ev.DeliveryTag] = Held{MessageID: ev.Props.MessageID, Since: time.Now()}
		}
		ids, kind = []string{ev.Props.MessageID}, afterDelivery
	case wire.Ack, wire.Nack, wire.Reject:
		if ev.FromServer {
			ids = settle(c.awaiting, ev.DeliveryTag, ev.Multiple)
			if ev.Kind == wire.Ack {
				kind = afterConfirm
			}
			break
		}
		ids = settle(c.tags, ev.DeliveryTag, ev.Multiple)
		for _, tag := range covered(c.held, ev.DeliveryTag, ev.Multiple) {
			delete(c.held, tag)
		}
		if ev.Kind == wire.Ack {
			kind = beforeAck
		}
	case wire.Consume:
		c.autoAck[ev.ConsumerTag] = ev.NoAck
	case wire.ConfirmSelect:
		c.confirm = true
	case wire.ChannelClose:
		delete(l.channels, ev.Channel)
	case wire.ConnectionClose:
		if ev.FromServer {
			l.said = fmt.Sprintf("%d %s", ev.ReplyCode, ev.ReplyText)
		} else {
			l.asked = true
		}
	}
	l.mu.Unlock()
	return l.trigger(kind, ev, ids)
}

// trigger offers an event to the process's armed triggers of kind.
func (l *amqpLink) trigger(kind triggerKind, ev wire.Event, ids []string) Verdict {
	switch kind {
	case beforePublish:
		return l.w.event(kind, func(t Trigger) bool {
			return t.match.matches(ev.Props.MessageID, ev.Props.Type, ev.Exchange, ev.RoutingKey)
		})
	case beforeAck, afterConfirm, afterDelivery:
		for _, id := range ids {
			if v := l.w.event(kind, func(t Trigger) bool { return t.id == id }); v.Action != Forward {
				return v
			}
		}
	}
	return Verdict{}
}

func (l *amqpLink) holding() []Held {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Held
	for _, c := range l.channels {
		for _, h := range c.held {
			out = append(out, h)
		}
	}
	return out
}

// settle removes and returns, in tag order, the ids an ack of tag covers (all up to tag when multiple; everything
// outstanding for multiple with tag 0).
func settle(m map[uint64]string, tag uint64, multiple bool) []string {
	keys := covered(m, tag, multiple)
	ids := make([]string, 0, len(keys))
	for _, k := range keys {
		ids = append(ids, m[k])
		delete(m, k)
	}
	return ids
}

func covered[V any](m map[uint64]V, tag uint64, multiple bool) []uint64 {
	var out []uint64
	for k := range m {
		if k == tag || multiple && (k <= tag || tag == 0) {
			out = append(out, k)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
