package room

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/user"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// PublishBudget bounds everything the attendee's checker does for the room after a run: dialling, publishing and
// waiting for the broker's confirm. A room that is missing or slow costs a run at most this, and one warning.
const PublishBudget = 800 * time.Millisecond

// eventType is the AMQP type of a room event.
const eventType = "msglabs.room.run.v1"

// Why a publish did not reach the room.
var (
	ErrNoRoom    = errors.New("the room does not exist on this broker")
	ErrNoServer  = errors.New("no dashboard queue is bound to the room")
	ErrRefused   = errors.New("the broker refused the event")
	ErrTooSlow   = errors.New("no confirm in time")
	ErrNoAttends = errors.New("no attendee name")
)

// Publish sends one event to the room's exchange and waits for the broker's confirm, all within PublishBudget
// (or ctx, if sooner). It publishes mandatory, so a room with no dashboard queue says so (ErrNoServer) instead of
// dropping the event silently. The connection is closed before it returns, or abandoned to close in the
// background when the budget ran out.
func Publish(ctx context.Context, amqpURL, room string, e Event) error {
	body, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encode room event: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, PublishBudget)
	defer cancel()
	var (
		mu   sync.Mutex
		conn *amqp.Connection
	)
	done := make(chan error, 1)
	go func() {
		deadline, _ := ctx.Deadline()
		c, err := amqp.DialConfig(amqpURL, amqp.Config{
			Dial:       amqp.DefaultDial(time.Until(deadline)),
			Properties: amqp.Table{"connection_name": "msglabs room publisher"},
		})
		if err != nil {
			done <- fmt.Errorf("connect to the room's broker: %w", err)
			return
		}
		mu.Lock()
		conn = c
		mu.Unlock()
		defer c.Close()
		done <- publishOn(ctx, c, room, e.ID, body)
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		mu.Lock()
		if conn != nil {
			go conn.Close() // may block on a broker that stopped answering; nobody waits for it
		}
		mu.Unlock()
		return fmt.Errorf("publish to room %q: %w (%s)", room, ErrTooSlow, PublishBudget)
	}
}

func publishOn(ctx context.Context, c *amqp.Connection, room, id string, body []byte) error {
	ch, err := c.Channel()
	if err != nil {
		return fmt.Errorf("open a channel: %w", err)
	}
	if err := ch.Confirm(false); err != nil { // noWait
		return fmt.Errorf("confirm mode: %w", err)
	}
	returns := ch.NotifyReturn(make(chan amqp.Return, 1))
	closed := ch.NotifyClose(make(chan *amqp.Error, 1))
	dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, Exchange(room), "",
		true,  // mandatory: come back if no queue is bound
		false, // immediate
		amqp.Publishing{
			MessageId:    id,
			Type:         eventType,
			ContentType:  "application/json",
			DeliveryMode: amqp.Persistent,
			Body:         body,
		})
	if err != nil {
		return fmt.Errorf("publish to room %q: %w", room, err)
	}
	acked, err := dc.WaitContext(ctx)
	if err != nil {
		return fmt.Errorf("publish to room %q: %w (%s)", room, ErrTooSlow, PublishBudget)
	}
	// The broker sends a return before the confirm of the same message, and the library hands both over in that
	// order, so a return is already here if there was one.
	select {
	case r, ok := <-returns:
		if ok { // closed, not a return, when the broker closed the channel
			return fmt.Errorf("room %q: %w (%d %s)", room, ErrNoServer, r.ReplyCode, r.ReplyText)
		}
	default:
	}
	if !acked {
		select {
		case e := <-closed:
			if e != nil && e.Code == amqp.NotFound {
				return fmt.Errorf("room %q: %w", room, ErrNoRoom)
			}
			if e != nil {
				return fmt.Errorf("room %q: %w: %s", room, ErrRefused, e.Reason)
			}
		default:
		}
		return fmt.Errorf("room %q: %w", room, ErrRefused)
	}
	return nil
}

// Run is what the checker knows after running one lab, for the room.
type Run struct {
	Lab     string    // the lab's folder name: "05-idempotent-consumer"
	Step    int       // the step being worked on, 1-based (0: unknown)
	Result  string    // ResultPass, ResultFail, ResultInfra or ResultNotCounted
	Marker  string    // for a failing run
	Hints   int       // hints shown so far for the lab
	Started time.Time // when the attendee started the lab (zero: unknown)
}

// Joined returns the room and the attendee's name from the environment, and whether the attendee joined a room at
// all (MSGLABS_ROOM set). The name defaults to the user name.
func Joined(getenv func(string) string) (room, attendee string, ok bool) {
	room = getenv(EnvRoom)
	if room == "" {
		return "", "", false
	}
	attendee = CleanName(getenv(EnvAttendee))
	if attendee == "" {
		if u, err := user.Current(); err == nil {
			attendee = CleanName(u.Username)
		}
	}
	if attendee == "" {
		attendee = CleanName(getenv("USER"))
	}
	return room, attendee, true
}

// Announce is the checker's post-run hook: when the attendee joined a room (MSGLABS_ROOM), it publishes the run to
// the room on the broker at amqpURL, within PublishBudget. If that fails it writes one warning line to warn and
// returns the error; the run's own result is never affected. Without MSGLABS_ROOM it does nothing.
func Announce(ctx context.Context, getenv func(string) string, amqpURL string, r Run, now time.Time, warn io.Writer) error {
	room, attendee, ok := Joined(getenv)
	if !ok {
		return nil
	}
	err := announce(ctx, amqpURL, room, attendee, r, now)
	if err != nil {
		fmt.Fprintf(warn, "checker: warning: this run was not shown in room %q: %s\n", room, advice(err))
	}
	return err
}

func announce(ctx context.Context, amqpURL, room, attendee string, r Run, now time.Time) error {
	if err := ValidRoom(room); err != nil {
		return fmt.Errorf("%s=%s: %w", EnvRoom, room, err)
	}
	if attendee == "" {
		return fmt.Errorf("%w: set %s", ErrNoAttends, EnvAttendee)
	}
	e := Event{ID: NewID(), Attendee: attendee, Lab: r.Lab, Step: r.Step, Result: r.Result, Marker: r.Marker, Hints: r.Hints}
	if !r.Started.IsZero() && now.After(r.Started) {
		e.Seconds = min(int64(now.Sub(r.Started)/time.Second), maxSeconds)
	}
	if e.Result == ResultPass {
		e.Marker = ""
	}
	if err := e.Validate(); err != nil {
		return err
	}
	return Publish(ctx, amqpURL, room, e)
}

// advice says what went wrong for the room, and what to do, in one clause.
func advice(err error) string {
	switch {
	case errors.Is(err, ErrNoRoom):
		return "the room does not exist on this broker yet (the instructor starts it with `bin/checker room serve`), or " + EnvRoom + " is misspelt"
	case errors.Is(err, ErrNoServer):
		return "the room has no dashboard queue (the instructor starts it with `bin/checker room serve`)"
	case errors.Is(err, ErrTooSlow):
		return fmt.Sprintf("the room's broker did not confirm within %s", PublishBudget)
	}
	return err.Error()
}
