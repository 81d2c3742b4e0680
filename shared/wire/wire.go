// Package wire reads the AMQP 0-9-1 frames that pass through the harness's proxy, so a test's timeline can say what
// really crossed the wire: which message was published, delivered, acked, confirmed or returned, and on which channel.
//
// It only reads: bytes are forwarded untouched by the proxy and copied into a Stream. It understands just the
// methods the labs need and skips everything else by frame length, so an unknown method never breaks a connection.
package wire

import (
	"encoding/binary"
	"errors"
	"strconv"
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
	Expiration                                           string // the per-message TTL in milliseconds, "" without one
	DeliveryMode                                         uint8
	Headers                                              map[string]string // string-valued headers only
}

// MaxBody is how much of a message body an Event keeps.
const MaxBody = 512

// Frame layout (AMQP 0-9-1 section 4.2.3): type (1 octet), channel (2), payload size (4), payload, frame-end octet.
const (
	frameMethod    = 1
	frameHeader    = 2
	frameBody      = 3
	frameHeartbeat = 8
	frameEnd       = 0xCE
	frameHeaderLen = 7 // type, channel, size
	protoHeaderLen = 8 // "AMQP" 0 0 9 1

	// maxFrameSize bounds the payload size a Stream accepts. Brokers negotiate far less (RabbitMQ's frame_max is
	// 128 KiB by default); a larger size field means the stream is not AMQP (or we lost our place in it), so the
	// Stream stops rather than buffer gigabytes waiting for a frame that never ends.
	maxFrameSize = 4 << 20
)

// Class and method ids of the methods a Stream decodes (AMQP 0-9-1 XML spec).
const (
	classConnection = 10
	classChannel    = 20
	classExchange   = 40
	classQueue      = 50
	classBasic      = 60
	classConfirm    = 85

	methodConnectionClose = 50  // connection.close
	methodChannelClose    = 40  // channel.close
	methodExchangeDeclare = 10  // exchange.declare
	methodQueueDeclare    = 10  // queue.declare
	methodQueueDeclareOk  = 11  // queue.declare-ok
	methodQueueBind       = 20  // queue.bind
	methodBasicQos        = 10  // basic.qos
	methodBasicConsume    = 20  // basic.consume
	methodBasicPublish    = 40  // basic.publish
	methodBasicReturn     = 50  // basic.return
	methodBasicDeliver    = 60  // basic.deliver
	methodBasicGetOk      = 71  // basic.get-ok
	methodBasicAck        = 80  // basic.ack
	methodBasicReject     = 90  // basic.reject
	methodBasicNack       = 120 // basic.nack
	methodConfirmSelect   = 10  // confirm.select
)

// Bits of the octets that carry a method's boolean fields, in the order the spec lists the fields.
const (
	bitMandatory   = 1 << 0 // basic.publish
	bitRedelivered = 1 << 0 // basic.deliver, basic.get-ok
	bitMultiple    = 1 << 0 // basic.ack, basic.nack
	bitRequeueNack = 1 << 1 // basic.nack (after multiple)
	bitRequeue     = 1 << 0 // basic.reject
	bitNoAck       = 1 << 1 // basic.consume (after no-local)
	bitPassive     = 1 << 0 // queue.declare, exchange.declare
	bitDurable     = 1 << 1 // queue.declare, exchange.declare
)

// Property flags of a content header (basic class), highest bit first, as the spec orders the properties.
const (
	propContentType     = 1 << 15
	propContentEncoding = 1 << 14
	propHeaders         = 1 << 13
	propDeliveryMode    = 1 << 12
	propPriority        = 1 << 11
	propCorrelationID   = 1 << 10
	propReplyTo         = 1 << 9
	propExpiration      = 1 << 8
	propMessageID       = 1 << 7
	propTimestamp       = 1 << 6
	propType            = 1 << 5
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
	for len(s.buf) >= frameHeaderLen {
		size := int(binary.BigEndian.Uint32(s.buf[3:frameHeaderLen]))
		if size > maxFrameSize {
			s.stop()
			return len(p), nil
		}
		end := frameHeaderLen + size
		if len(s.buf) < end+1 {
			break
		}
		typ, ch, payload := s.buf[0], binary.BigEndian.Uint16(s.buf[1:3]), s.buf[frameHeaderLen:end]
		if s.buf[end] != frameEnd {
			s.stop()
			return len(p), nil
		}
		if err := s.frame(typ, ch, payload); err != nil {
			s.stop()
			return len(p), nil
		}
		s.buf = s.buf[end+1:]
	}
	if len(s.buf) == 0 {
		s.buf = nil // let a large body's buffer go
	}
	return len(p), nil
}

// stop gives up on a stream that is not (or no longer) readable AMQP, and lets its buffers go.
func (s *Stream) stop() {
	s.broken = true
	s.buf, s.content = nil, nil
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

// n takes the next k bytes. Past the end it records errShort and returns zeros (k ≤ 8, the fixed-size fields) or
// nothing (a string or table whose length field promised more than the payload holds).
func (r *reader) n(k int) []byte {
	if r.err != nil || k < 0 || len(r.b) < k {
		r.err = errShort
		if k > len(zeros) || k < 0 {
			return nil
		}
		return zeros[:k]
	}
	v := r.b[:k]
	r.b = r.b[k:]
	return v
}

// zeros backs the fixed-size reads past the end of a payload.
var zeros [8]byte

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
	case class == classBasic && id == methodBasicPublish:
		r.u16()
		ev.Kind, ev.Exchange, ev.RoutingKey = Publish, r.short(), r.short()
		ev.Mandatory = r.u8()&bitMandatory != 0
		withContent = true
	case class == classBasic && id == methodBasicDeliver:
		ev.Kind, ev.ConsumerTag, ev.DeliveryTag = Deliver, r.short(), r.u64()
		ev.Redelivered = r.u8()&bitRedelivered != 0
		ev.Exchange, ev.RoutingKey = r.short(), r.short()
		withContent = true
	case class == classBasic && id == methodBasicGetOk:
		ev.Kind, ev.DeliveryTag = GetOk, r.u64()
		ev.Redelivered = r.u8()&bitRedelivered != 0
		ev.Exchange, ev.RoutingKey, ev.MessageCount = r.short(), r.short(), r.u32()
		withContent = true
	case class == classBasic && id == methodBasicReturn:
		ev.Kind, ev.ReplyCode, ev.ReplyText = Return, r.u16(), r.short()
		ev.Exchange, ev.RoutingKey = r.short(), r.short()
		withContent = true
	case class == classBasic && id == methodBasicAck:
		ev.Kind, ev.DeliveryTag = Ack, r.u64()
		ev.Multiple = r.u8()&bitMultiple != 0
	case class == classBasic && id == methodBasicNack:
		ev.Kind, ev.DeliveryTag = Nack, r.u64()
		bits := r.u8()
		ev.Multiple, ev.Requeue = bits&bitMultiple != 0, bits&bitRequeueNack != 0
	case class == classBasic && id == methodBasicReject:
		ev.Kind, ev.DeliveryTag = Reject, r.u64()
		ev.Requeue = r.u8()&bitRequeue != 0
	case class == classBasic && id == methodBasicConsume:
		r.u16()
		ev.Kind, ev.Queue, ev.ConsumerTag = Consume, r.short(), r.short()
		ev.NoAck = r.u8()&bitNoAck != 0
	case class == classBasic && id == methodBasicQos:
		r.u32()
		ev.Kind, ev.PrefetchCount = Qos, r.u16()
	case class == classQueue && id == methodQueueDeclare:
		r.u16()
		ev.Kind, ev.Queue = QueueDeclare, r.short()
		bits := r.u8()
		ev.Passive, ev.Durable = bits&bitPassive != 0, bits&bitDurable != 0
	case class == classQueue && id == methodQueueDeclareOk:
		ev.Kind, ev.Queue, ev.MessageCount = QueueDeclareOk, r.short(), r.u32()
	case class == classQueue && id == methodQueueBind:
		r.u16()
		ev.Kind, ev.Queue, ev.Exchange, ev.RoutingKey = QueueBind, r.short(), r.short(), r.short()
	case class == classExchange && id == methodExchangeDeclare:
		r.u16()
		ev.Kind, ev.Exchange = ExchangeDeclare, r.short()
		r.short()
		bits := r.u8()
		ev.Passive, ev.Durable = bits&bitPassive != 0, bits&bitDurable != 0
	case class == classConfirm && id == methodConfirmSelect:
		ev.Kind = ConfirmSelect
	case class == classChannel && id == methodChannelClose:
		ev.Kind, ev.ReplyCode, ev.ReplyText = ChannelClose, r.u16(), r.short()
	case class == classConnection && id == methodConnectionClose:
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
	if flags&propContentType != 0 {
		props.ContentType = r.short()
	}
	if flags&propContentEncoding != 0 {
		r.short() // content-encoding
	}
	if flags&propHeaders != 0 {
		props.Headers = stringHeaders(r.long())
	}
	if flags&propDeliveryMode != 0 {
		props.DeliveryMode = r.u8()
	}
	if flags&propPriority != 0 {
		r.u8() // priority
	}
	if flags&propCorrelationID != 0 {
		props.CorrelationID = r.short()
	}
	if flags&propReplyTo != 0 {
		props.ReplyTo = r.short()
	}
	if flags&propExpiration != 0 {
		props.Expiration = r.short()
	}
	if flags&propMessageID != 0 {
		props.MessageID = r.short()
	}
	if flags&propTimestamp != 0 {
		r.u64() // timestamp
	}
	if flags&propType != 0 {
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
			out[key] = strconv.FormatInt(int64(r.u64()), 10)
		case 'I':
			out[key] = strconv.FormatInt(int64(int32(r.u32())), 10)
		case 's':
			out[key] = strconv.FormatInt(int64(int16(r.u16())), 10)
		case 'b', 'B':
			out[key] = strconv.FormatInt(int64(r.u8()), 10)
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
