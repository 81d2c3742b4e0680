package harness

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"msglabs/shared/infra"
	"msglabs/shared/leftover"
	"msglabs/shared/shop"
	"msglabs/shared/story"
)

// service is one of the kit's services as this test binary found it: resolved and checked once (a real handshake,
// so a refused login is found at the first test that needs the service), then the same answer for every test.
type service struct {
	once sync.Once
	url  string
	err  error
}

func (s *service) get(ctx context.Context, svc infra.Service, check func(context.Context, infra.Endpoint) error) (string, error) {
	s.once.Do(func() {
		ep, err := infra.ResolveService(ctx, svc)
		if err == nil {
			err = check(ctx, ep)
		}
		s.url, s.err = ep.URL, err
	})
	return s.url, s.err
}

var broker, database service

// AMQPURL is the broker's real URL (tests normally use a Process instead, so crashes and cuts work). The first call
// in a test binary finds the broker and logs in once; when that fails, the test fails at once with INFRA.
func (e *Env) AMQPURL() string {
	e.T.Helper()
	ctx, cancel := e.setupCtx()
	defer cancel()
	url, err := broker.get(ctx, infra.RabbitMQ, infra.CheckAMQP)
	if err != nil {
		e.failInfra(err)
	}
	e.mu.Lock()
	e.usedMQ = true
	e.mu.Unlock()
	return url
}

// failInfra stops the test with an INFRA story: which service, what it said, the fix.
func (e *Env) failInfra(err error) {
	e.T.Helper()
	problem := infraProblem(err)
	e.setVerdict(story.Infra, problem)
	e.T.Fatalf("%s: %s", story.Infra, problem)
}

// infraProblem words a resolution or check error for a person: one clause per service, without the sentinel.
func infraProblem(err error) string {
	lines := strings.Split(err.Error(), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimPrefix(l, infra.ErrUnreachable.Error()+": ")
	}
	return strings.Join(lines, "; ")
}

// inspector returns the harness's own broker connection (direct, unrecorded), used to look at queues and to clean up.
func (e *Env) inspector() (*amqp.Connection, error) {
	url := e.AMQPURL()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.inspect != nil && !e.inspect.IsClosed() {
		return e.inspect, nil
	}
	conn, err := amqp.DialConfig(url, amqp.Config{Properties: amqp.Table{"connection_name": e.prefix + "/harness"}})
	if err != nil {
		return nil, fmt.Errorf("%s: connect to RabbitMQ: %w", story.Infra, err)
	}
	e.inspect = conn
	return conn, nil
}

// QueueDepth returns how many messages wait, ready, in queue (unacked deliveries are not counted) and how many
// consumers it has. A queue that does not exist is an error. Calls are serialized on one inspection channel: a
// test's waits ask for depths hundreds of times, and a channel opened for each would cost the broker more than the
// question.
func (e *Env) QueueDepth(queue string) (messages, consumers int, err error) {
	e.inspectMu.Lock()
	defer e.inspectMu.Unlock()
	ch, err := e.inspectChannel()
	if err != nil {
		return 0, 0, err
	}
	q, err := ch.QueueDeclarePassive(queue,
		false, // durable (ignored for a passive declare)
		false, // autoDelete
		false, // exclusive
		false, // noWait
		nil)
	if err != nil {
		_ = ch.Close() // the broker closes it on a failed declare; a later call opens another
		e.inspectCh = nil
		return 0, 0, fmt.Errorf("queue %q: %w", e.Short(queue), err)
	}
	return q.Messages, q.Consumers, nil
}

// inspectChannel returns the inspection channel, opening it (and the inspector) when there is none or it closed.
// The caller holds inspectMu.
func (e *Env) inspectChannel() (*amqp.Channel, error) {
	if e.inspectCh != nil && !e.inspectCh.IsClosed() {
		return e.inspectCh, nil
	}
	conn, err := e.inspector()
	if err != nil {
		return nil, err
	}
	ch, err := conn.Channel()
	if err != nil {
		return nil, fmt.Errorf("open channel: %w", err)
	}
	e.inspectCh = ch
	return ch, nil
}

// IdleGap is how long nothing may have been recorded before Idle believes an empty queue: a delivery on its way
// from the broker to a consumer is in neither the queue's depth nor Unacked, and is recorded within it.
const IdleGap = 50 * time.Millisecond

// Idle reports whether every queue given is empty, no delivery is unacked, and nothing was recorded for IdleGap.
// Use it in a Settle condition instead of "depth 0 and nothing unacked", which a delivery in flight can fool: the
// condition then holds a moment before the copy that would fail the test arrives.
func (e *Env) Idle(queues ...string) bool {
	if e.Unacked() != 0 || e.Timeline.Quiet() < IdleGap {
		return false
	}
	for _, q := range queues {
		if e.MustDepth(q) != 0 {
			return false
		}
	}
	return e.Unacked() == 0 // again: a delivery may have arrived while the depths were asked for
}

// QueueExists reports whether queue exists on the broker.
func (e *Env) QueueExists(queue string) bool {
	_, _, err := e.QueueDepth(queue)
	var amqpErr *amqp.Error
	if errors.As(err, &amqpErr) && amqpErr.Code == amqp.NotFound {
		return false
	}
	return err == nil
}

// MustDepth is QueueDepth that fails the test on error, returning the ready count.
func (e *Env) MustDepth(queue string) int {
	e.T.Helper()
	n, _, err := e.QueueDepth(queue)
	if err != nil {
		e.T.Fatal(err)
	}
	return n
}

// WaitDrained waits until queue has no ready messages and no delivery to a manual-ack consumer is outstanding, and
// reports whether that happened within Patience. It returns as soon as it holds.
func (e *Env) WaitDrained(queue string) bool {
	return e.Eventually(func() bool {
		n, _, err := e.QueueDepth(queue)
		return err == nil && n == 0 && e.Unacked() == 0
	})
}

// WaitConsuming waits until the broker counts exactly n consumers on queue, and reports whether that happened within
// Patience; it returns as soon as it holds. After starting a service, WaitConsuming(queue, 1) returns once it is
// consuming, so what the test publishes next has somewhere to go. After a process dies, WaitConsuming(queue, 0)
// returns once the broker has dropped its consumers, which it does in the same step as requeueing what they had not
// acked: from then on the redelivery is in the queue.
//
//	if !env.WaitConsuming(queue, 1) {
//		env.T.Fatalf("Billing did not start consuming %q: %v", env.Short(queue), proc.Err())
//	}
func (e *Env) WaitConsuming(queue string, n int) bool {
	return e.Eventually(func() bool {
		_, consumers, err := e.QueueDepth(queue)
		return err == nil && consumers == n
	})
}

// WaitConsumers is WaitConsuming, under the name the first labs used.
func (e *Env) WaitConsumers(queue string, n int) bool { return e.WaitConsuming(queue, n) }

// cleanupBroker deletes every queue and exchange this test named or declared (over the inspector, when it is still
// open), closes the inspector, and returns the names that are gone (all of them, unless the broker could not be
// reached).
func (e *Env) cleanupBroker() []string {
	e.mu.Lock()
	names := make([]string, 0, len(e.names))
	for n := range e.names {
		names = append(names, n)
	}
	used, inspect := e.usedMQ, e.inspect
	e.mu.Unlock()
	sort.Strings(names)
	if inspect != nil {
		defer inspect.Close()
	}
	if !used || len(names) == 0 {
		return names // never resolved the broker: nothing was created there
	}
	ctx, cancel := e.cleanupCtx()
	defer cancel()
	err := errors.New("no open inspector")
	if inspect != nil && !inspect.IsClosed() {
		err = leftover.DeleteBrokerNamesOn(ctx, inspect, names...)
	}
	if err != nil {
		err = leftover.DeleteBrokerNames(ctx, broker.url, names...)
	}
	if err != nil {
		e.T.Errorf("cleanup: %v", err)
		return nil
	}
	return names
}

// Publisher is the test's own way to send shop messages (as ClientUI or as an upstream service would), with
// publisher confirms so that a test never starts from a message the broker did not take. Create with Env.Publisher.
// A Publisher is not safe for concurrent use.
type Publisher struct {
	env   *Env
	actor string
	ch    *amqp.Channel
}

// Publisher opens a confirmed channel for the test, recorded in the timeline as actor (e.g. "test", "sales").
func (e *Env) Publisher(actor string) *Publisher {
	e.T.Helper()
	p := e.Process(actor)
	conn := p.MustDial()
	ch, err := conn.Channel()
	if err != nil {
		e.T.Fatalf("open channel: %v", err)
	}
	if err := ch.Confirm(false); err != nil {
		e.T.Fatalf("confirm mode: %v", err)
	}
	return &Publisher{env: e, actor: p.Name, ch: ch}
}

// Send publishes m persistently with a fresh message id and waits for the broker's confirm; it returns the id.
func (p *Publisher) Send(exchange, key string, m shop.Message) string {
	p.env.T.Helper()
	id := p.env.NextMessageID()
	p.SendWithID(id, exchange, key, m)
	return id
}

// SendWithID publishes m with the given message id (use it twice to inject a duplicate) and waits for the confirm.
func (p *Publisher) SendWithID(id, exchange, key string, m shop.Message) {
	p.env.T.Helper()
	body, err := shop.Encode(m)
	if err != nil {
		p.env.T.Fatal(err)
	}
	p.Raw(exchange, key, amqp.Publishing{
		MessageId:    id,
		Type:         m.MessageType(),
		ContentType:  shop.ContentType,
		DeliveryMode: amqp.Persistent,
		Body:         body,
	})
}

// Raw publishes a prepared message (a malformed one, say) and waits for the broker's confirm.
func (p *Publisher) Raw(exchange, key string, msg amqp.Publishing) {
	p.env.T.Helper()
	ctx, cancel := p.env.setupCtx()
	defer cancel()
	dc, err := p.ch.PublishWithDeferredConfirmWithContext(ctx, exchange, key,
		false, // mandatory
		false, // immediate
		msg)
	if err != nil {
		p.env.T.Fatalf("publish %s: %v", msg.MessageId, err)
	}
	ok, err := dc.WaitContext(ctx)
	if err != nil || !ok {
		p.env.T.Fatalf("the broker did not confirm %s (ok=%v, err=%v): the test cannot start from it", msg.MessageId, ok, err)
	}
}

// replyConnectionForced is the code of a connection.close the broker sends when an operator closes a connection or
// the broker shuts down (AMQP 0-9-1 CONNECTION_FORCED): the one server-side close that is not about the client.
const replyConnectionForced = 320

// lostLink is a service link that the far side ended, unasked, while the test ran.
type lostLink struct {
	service infra.Service
	actor   string
}

// LostLink tells the Env that the far side ended a link of actor's to svc without the test cutting it (the broker
// or the database went away, or a network between). Proxies that can tell which side ended a link call it; the
// recorder calls it for broker links it saw end with neither a client close nor a cut. From then on a failing test
// reports INFRA instead of its lab marker: it failed, but not because of the attendee's code.
func (e *Env) LostLink(svc infra.Service, actor string) {
	e.mu.Lock()
	e.lost = append(e.lost, lostLink{service: svc, actor: actor})
	e.mu.Unlock()
	e.Event(story.Entry{Actor: actor, Kind: story.Cut, Peer: svc.Name,
		Text: fmt.Sprintf("connection to %s ended from the %s side (the test did not cut it)", svc.Name, svc.Name)})
}

// lostLinkStory is the INFRA story that replaces a failure told after a link was lost; ok is false when none was.
func (e *Env) lostLinkStory(m story.Marker, headline string, details []string) (msg string, ok bool) {
	e.mu.Lock()
	lost := append([]lostLink(nil), e.lost...)
	e.mu.Unlock()
	if len(lost) == 0 {
		return "", false
	}
	infraHeadline := lostHeadline(lost)
	details = append([]string{fmt.Sprintf("the test would otherwise have said: %s: %s", m, headline)}, details...)
	msg = story.Tell(story.Infra, infraHeadline, details, e.Timeline)
	e.setVerdict(story.Infra, infraHeadline)
	return msg, true
}

// lostHeadline words lost links: which service, which process, not the attendee's code, and the fix.
func lostHeadline(lost []lostLink) string {
	svc := lost[0].service
	var actors []string
	seen := map[string]bool{}
	for _, l := range lost {
		if !seen[l.actor] {
			seen[l.actor] = true
			actors = append(actors, l.actor)
		}
	}
	return fmt.Sprintf("%s ended the connection of %s mid-run, and the test did not cut it: not your code; check that "+
		"%s is up (`make doctor`) and run the lab again", svc.Name, strings.Join(actors, ", "), svc.Name)
}

// reportLostLinks, at cleanup, adds the INFRA story to a test that failed some other way (a t.Fatalf of its own, a
// bounded wait that ran out) after a link was lost.
func (e *Env) reportLostLinks() {
	e.mu.Lock()
	lost := append([]lostLink(nil), e.lost...)
	told := e.verdict.marker == story.Infra
	e.mu.Unlock()
	if len(lost) == 0 || told || !e.T.Failed() {
		return
	}
	headline := lostHeadline(lost)
	e.setVerdict(story.Infra, headline)
	e.T.Errorf("%s: %s", story.Infra, headline)
}
