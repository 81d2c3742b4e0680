// Package wire reads the AMQP 0-9-1 frames that pass through the harness's proxy, so a test's timeline can say what
// really crossed the wire: which message was published, delivered, acked, confirmed or returned, and on which channel.
//
// It only reads: bytes are forwarded untouched by the proxy and copied into a Stream. It understands just the
// methods the labs need and skips everything else by frame length, so an unknown method never breaks a connection.
package wire

import (
	"encoding/binary"
	"errors"
)

// Kind is what happened, as named by the AMQP method (or a pseudo-event for content that completed).
type Kind string

// The events a Stream reports.
const (
	Publish         Kind = "publish"          // client → broker, with its content
	Deliver         Kind = "deliver"          // broker → consumer, with its content
	GetOk           Kind = "get-ok"           // broker → client answering basic.get, with content
	Return          Kind = "return"           // broker → publisher: unroutable mandatory message, with content
	Ack             Kind = "ack"              // consumer ack, or (from the broker) a publisher confirm
	Nack            Kind = "nack"             // consumer nack, or (from the broker) a negative confirm
	Reject          Kind = "reject"           // consumer reject
	Consume         Kind = "consume"          // a consumer starts on a queue
	Qos             Kind = "qos"              // prefetch set
	QueueDeclare    Kind = "queue-declare"    // a queue declared (or checked, when Passive)
	QueueDeclareOk  Kind = "queue-declare-ok" // the broker's answer: the queue name and its depth
	QueueBind       Kind = "queue-bind"       // a binding
	ExchangeDeclare Kind = "exchange-declare" // an exchange declared
	ConfirmSelect   Kind = "confirm-select"   // publisher confirms switched on
	ChannelClose    Kind = "channel-close"    // a channel closed (by the broker this is an error)
	ConnectionClose Kind = "connection-close" // a connection closed cleanly
)

// Event is one thing seen on a connection. Only the fields that belong to its Kind are set.
type Event struct {
	Kind       Kind
	FromServer bool
	Channel    uint16

	Exchange, RoutingKey, Queue, ConsumerTag string
	DeliveryTag                              uint64
	Multiple, Requeue, Redelivered           bool
	NoAck, Mandatory, Passive, Durable       bool
	PrefetchCount                            uint16
	MessageCount                             uint32
	ReplyCode                                uint16
	ReplyText                                string

	Props    Properties
	BodySize uint64
	Body     []byte // the first MaxBody bytes of the content
}

// Properties are the content properties the timeline cares about.
type Properties struct {
	ContentType, CorrelationID, ReplyTo, MessageID, Type string
	DeliveryMode                                         uint8
	Headers                                              map[string]string // string-valued headers only
}

// MaxBody is how much of a message body an Event keeps.
const MaxBody = 512

const (
	frameMethod    = 1
	frameHeader    = 2
	frameBody      = 3
	frameHeartbeat = 8
	frameEnd       = 0xCE
	protoHeaderLen = 8 // "AMQP" 0 0 9 1
)

// Stream parses one direction of one connection. Write never fails the caller's copy: a malformed stream just stops
// producing events. A Stream is not safe for concurrent use; the proxy gives each direction its own.
type Stream struct {
	fromServer bool
	emit       func(Event)
	buf        []byte
	skipHeader bool
	broken     bool
	content    map[uint16]*pending
}

type pending struct {
	ev       Event
	haveHead bool
	received uint64
}

// NewStream returns a Stream for the client→broker direction (fromServer false) or the other, calling emit for
// every event in order.
func NewStream(fromServer bool, emit func(Event)) *Stream {
	return &Stream{fromServer: fromServer, emit: emit, skipHeader: !fromServer, content: map[uint16]*pending{}}
}

// Write feeds bytes to the parser. It always reports len(p), nil.
func (s *Stream) Write(p []byte) (int, error) {
	if s.broken {
		return len(p), nil
	}
	s.buf = append(s.buf, p...)
	if s.skipHeader {
		if len(s.buf) < protoHeaderLen {
			return len(p), nil
		}
		s.buf = s.buf[protoHeaderLen:]
		s.skipHeader = false
	}
	for len(s.buf) >= 7 {
		size := int(binary.BigEndian.Uint32(s.buf[3:7]))
		if len(s.buf) < 7+size+1 {
			break
		}
		typ, ch, payload := s.buf[0], binary.BigEndian.Uint16(s.buf[1:3]), s.buf[7:7+size]
		if s.buf[7+size] != frameEnd {
			s.broken = true
			return len(p), nil
		}
		if err := s.frame(typ, ch, payload); err != nil {
			s.broken = true
			return len(p), nil
		}
		s.buf = s.buf[7+size+1:]
	}
	if len(s.buf) == 0 {
		s.buf = nil // let a large body's buffer go
	}
	return len(p), nil
}

func (s *Stream) frame(typ byte, ch uint16, payload []byte) error {
	switch typ {
	case frameMethod:
		return s.method(ch, payload)
	case frameHeader:
		return s.header(ch, payload)
	case frameBody:
		s.body(ch, payload)
	}
	return nil
}

var errShort = errors.New("short frame")

// reader walks the fields of a method or header payload.
type reader struct {
	b   []byte
	err error
}

func (r *reader) n(k int) []byte {
	if r.err != nil || len(r.b) < k {
		r.err = errShort
		return make([]byte, k)
	}
	v := r.b[:k]
	r.b = r.b[k:]
	return v
}
func (r *reader) u8() uint8   { return r.n(1)[0] }
func (r *reader) u16() uint16 { return binary.BigEndian.Uint16(r.n(2)) }
func (r *reader) u32() uint32 { return binary.BigEndian.Uint32(r.n(4)) }
func (r *reader) u64() uint64 { return binary.BigEndian.Uint64(r.n(8)) }
func (r *reader) short() string {
	return string(r.n(int(r.u8())))
}
func (r *reader) long() []byte { return r.n(int(r.u32())) }

func (s *Stream) method(ch uint16, payload []byte) error {
	r := &reader{b: payload}
	class, id := r.u16(), r.u16()
	ev := Event{FromServer: s.fromServer, Channel: ch}
	withContent := false
	switch {
	case class == 60 && id == 40: // basic.publish
		r.u16()
		ev.Kind, ev.Exchange, ev.RoutingKey = Publish, r.short(), r.short()
		ev.Mandatory = r.u8()&1 != 0
		withContent = true
	case class == 60 && id == 60: // basic.deliver
		ev.Kind, ev.ConsumerTag, ev.DeliveryTag = Deliver, r.short(), r.u64()
		ev.Redelivered = r.u8()&1 != 0
		ev.Exchange, ev.RoutingKey = r.short(), r.short()
		withContent = true
	case class == 60 && id == 71: // basic.get-ok
		ev.Kind, ev.DeliveryTag = GetOk, r.u64()
		ev.Redelivered = r.u8()&1 != 0
		ev.Exchange, ev.RoutingKey, ev.MessageCount = r.short(), r.short(), r.u32()
		withContent = true
	case class == 60 && id == 50: // basic.return
		ev.Kind, ev.ReplyCode, ev.ReplyText = Return, r.u16(), r.short()
		ev.Exchange, ev.RoutingKey = r.short(), r.short()
		withContent = true
	case class == 60 && id == 80: // basic.ack
		ev.Kind, ev.DeliveryTag = Ack, r.u64()
		ev.Multiple = r.u8()&1 != 0
	case class == 60 && id == 120: // basic.nack
		ev.Kind, ev.DeliveryTag = Nack, r.u64()
		bits := r.u8()
		ev.Multiple, ev.Requeue = bits&1 != 0, bits&2 != 0
	case class == 60 && id == 90: // basic.reject
		ev.Kind, ev.DeliveryTag = Reject, r.u64()
		ev.Requeue = r.u8()&1 != 0
	case class == 60 && id == 20: // basic.consume
		r.u16()
		ev.Kind, ev.Queue, ev.ConsumerTag = Consume, r.short(), r.short()
		ev.NoAck = r.u8()&2 != 0
	case class == 60 && id == 10: // basic.qos
		r.u32()
		ev.Kind, ev.PrefetchCount = Qos, r.u16()
	case class == 50 && id == 10: // queue.declare
		r.u16()
		ev.Kind, ev.Queue = QueueDeclare, r.short()
		bits := r.u8()
		ev.Passive, ev.Durable = bits&1 != 0, bits&2 != 0
	case class == 50 && id == 11: // queue.declare-ok
		ev.Kind, ev.Queue, ev.MessageCount = QueueDeclareOk, r.short(), r.u32()
	case class == 50 && id == 20: // queue.bind
		r.u16()
		ev.Kind, ev.Queue, ev.Exchange, ev.RoutingKey = QueueBind, r.short(), r.short(), r.short()
	case class == 40 && id == 10: // exchange.declare
		r.u16()
		ev.Kind, ev.Exchange = ExchangeDeclare, r.short()
		r.short()
		bits := r.u8()
		ev.Passive, ev.Durable = bits&1 != 0, bits&2 != 0
	case class == 85 && id == 10: // confirm.select
		ev.Kind = ConfirmSelect
	case class == 20 && id == 40: // channel.close
		ev.Kind, ev.ReplyCode, ev.ReplyText = ChannelClose, r.u16(), r.short()
	case class == 10 && id == 50: // connection.close
		ev.Kind, ev.ReplyCode, ev.ReplyText = ConnectionClose, r.u16(), r.short()
	default:
		return nil
	}
	if r.err != nil {
		return r.err
	}
	if withContent {
		s.content[ch] = &pending{ev: ev}
		return nil
	}
	s.emit(ev)
	return nil
}

func (s *Stream) header(ch uint16, payload []byte) error {
	p := s.content[ch]
	if p == nil {
		return nil
	}
	r := &reader{b: payload}
	r.u16() // class
	r.u16() // weight
	p.ev.BodySize = r.u64()
	flags := r.u16()
	props := &p.ev.Props
	if flags&(1<<15) != 0 {
		props.ContentType = r.short()
	}
	if flags&(1<<14) != 0 {
		r.short() // content-encoding
	}
	if flags&(1<<13) != 0 {
		props.Headers = stringHeaders(r.long())
	}
	if flags&(1<<12) != 0 {
		props.DeliveryMode = r.u8()
	}
	if flags&(1<<11) != 0 {
		r.u8() // priority
	}
	if flags&(1<<10) != 0 {
		props.CorrelationID = r.short()
	}
	if flags&(1<<9) != 0 {
		props.ReplyTo = r.short()
	}
	if flags&(1<<8) != 0 {
		r.short() // expiration
	}
	if flags&(1<<7) != 0 {
		props.MessageID = r.short()
	}
	if flags&(1<<6) != 0 {
		r.u64() // timestamp
	}
	if flags&(1<<5) != 0 {
		props.Type = r.short()
	}
	if r.err != nil {
		return r.err
	}
	p.haveHead = true
	if p.ev.BodySize == 0 {
		s.finish(ch)
	}
	return nil
}

func (s *Stream) body(ch uint16, payload []byte) {
	p := s.content[ch]
	if p == nil || !p.haveHead {
		return
	}
	if room := MaxBody - len(p.ev.Body); room > 0 {
		p.ev.Body = append(p.ev.Body, payload[:min(room, len(payload))]...)
	}
	p.received += uint64(len(payload))
	if p.received >= p.ev.BodySize {
		s.finish(ch)
	}
}

func (s *Stream) finish(ch uint16) {
	p := s.content[ch]
	delete(s.content, ch)
	s.emit(p.ev)
}

// stringHeaders decodes a field table, keeping the string-valued ("S") entries and the integer ones as text.
func stringHeaders(table []byte) map[string]string {
	out := map[string]string{}
	r := &reader{b: table}
	for len(r.b) > 0 && r.err == nil {
		key := r.short()
		switch r.u8() {
		case 'S':
			out[key] = string(r.long())
		case 'l':
			out[key] = itoa(int64(r.u64()))
		case 'I':
			out[key] = itoa(int64(int32(r.u32())))
		case 's':
			out[key] = itoa(int64(int16(r.u16())))
		case 'b', 'B':
			out[key] = itoa(int64(r.u8()))
		case 't':
			if r.u8() != 0 {
				out[key] = "true"
			} else {
				out[key] = "false"
			}
		default:
			return out // a type we do not decode: stop rather than misread the rest
		}
	}
	return out
}

func itoa(v int64) string {
	if v == 0 {
		return "0"
	}
	neg := v < 0
	if neg {
		v = -v
	}
	var b [20]byte
	i := len(b)
	for v > 0 {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}
