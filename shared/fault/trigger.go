package fault

import (
	"fmt"
	"strings"
)

// Trigger is a crash that fires on what a process really sends or receives, read off the wire by its proxies, so no
// placement of Points.At in the code can dodge it. When a trigger fires, every link of the process (broker and
// database) freezes at that instant, before the triggering message is dropped or just after it is forwarded; then the
// harness cuts the links and kills the process. Arm one with harness.Process.CrashOn. A Trigger is a value: build one
// with the functions below.
type Trigger struct {
	kind  triggerKind
	id    string // a message id
	match Msg    // which publishes
	table string // lower case unless it was quoted
	nth   int
}

type triggerKind int

const (
	beforeAck triggerKind = iota + 1
	beforePublish
	afterConfirm
	afterDelivery
	afterCommit
	beforeCommit
)

// Msg picks published messages: every field that is set must match. ID is the message id, Type the type property,
// Exchange the exchange (its full name) and Key the routing key.
type Msg struct {
	ID, Type, Exchange, Key string
}

func (m Msg) String() string {
	var parts []string
	if m.ID != "" {
		parts = append(parts, m.ID)
	}
	if m.Type != "" {
		parts = append(parts, m.Type)
	}
	if m.Key != "" {
		parts = append(parts, fmt.Sprintf("with key %q", m.Key))
	}
	if len(parts) == 0 {
		return "a message"
	}
	return strings.Join(parts, " ")
}

func (m Msg) matches(id, typ, exchange, key string) bool {
	return (m.ID == "" || m.ID == id) && (m.Type == "" || m.Type == typ) &&
		(m.Exchange == "" || m.Exchange == exchange) && (m.Key == "" || m.Key == key)
}

// BeforeAckOf fires when the process acks the delivery of messageID: the ack never leaves, and the process dies, so
// the broker will deliver the message again.
func BeforeAckOf(messageID string) Trigger { return Trigger{kind: beforeAck, id: messageID, nth: 1} }

// BeforePublishOf fires when the process publishes a message that m picks: the publish never reaches the broker.
func BeforePublishOf(m Msg) Trigger { return Trigger{kind: beforePublish, match: m, nth: 1} }

// AfterConfirmOf fires when the broker confirms the process's publish of messageID: the confirm reaches the process,
// and nothing it sends after that reaches anyone.
func AfterConfirmOf(messageID string) Trigger {
	return Trigger{kind: afterConfirm, id: messageID, nth: 1}
}

// AfterDeliveryOf fires when the broker delivers messageID to the process for the nth time (counting from when it is
// armed; 1 = the next delivery): the delivery reaches the process, nothing it does about it reaches anyone.
func AfterDeliveryOf(messageID string, nth int) Trigger {
	return Trigger{kind: afterDelivery, id: messageID, nth: max(nth, 1)}
}

// AfterCommitTo fires when the nth transaction of the process that wrote to table (an explicit COMMIT, or a statement
// in autocommit) has committed: the data is in the database, and nothing the process sends after that arrives.
func AfterCommitTo(table string, nth int) Trigger {
	return Trigger{kind: afterCommit, table: tableName(table), nth: max(nth, 1)}
}

// BeforeCommitTo fires when the process sends what would commit its nth transaction that writes to table: that
// COMMIT (or the autocommit statement, or the Sync that ends it) is dropped and the process dies, so the transaction
// rolls back.
func BeforeCommitTo(table string, nth int) Trigger {
	return Trigger{kind: beforeCommit, table: tableName(table), nth: max(nth, 1)}
}

// Nth makes the trigger fire on the nth matching event instead of the first (1 = the next one).
func (t Trigger) Nth(n int) Trigger {
	t.nth = max(n, 1)
	return t
}

// tableName is how PostgreSQL names table: lower case unless quoted, without a schema.
func tableName(table string) string {
	if i := strings.LastIndexByte(table, '.'); i >= 0 {
		table = table[i+1:]
	}
	if strings.HasPrefix(table, `"`) && strings.HasSuffix(table, `"`) && len(table) >= 2 {
		return table[1 : len(table)-1]
	}
	return strings.ToLower(table)
}

// OnDatabase reports whether the trigger reads the process's database link (else its broker link).
func (t Trigger) OnDatabase() bool { return t.kind == afterCommit || t.kind == beforeCommit }

// before reports whether the triggering message is dropped (else it is forwarded first).
func (t Trigger) before() bool {
	return t.kind == beforeAck || t.kind == beforePublish || t.kind == beforeCommit
}

// String says when the trigger fires, as the end of a sentence that starts with the process's name and "crashes".
func (t Trigger) String() string {
	switch t.kind {
	case beforeAck:
		return fmt.Sprintf("just before its %sack of %s left", t.nthWord(), t.id)
	case beforePublish:
		return fmt.Sprintf("just before its %spublish of %s left", t.nthWord(), t.match)
	case afterConfirm:
		return fmt.Sprintf("right after the broker's %sconfirm of %s reached it", t.nthWord(), t.id)
	case afterDelivery:
		return fmt.Sprintf("right after it received %s for the %s time", t.id, ordinal(t.nth))
	case afterCommit:
		return fmt.Sprintf("right after its %s transaction that wrote to %s committed", ordinal(t.nth), t.table)
	case beforeCommit:
		return fmt.Sprintf("just before its %s transaction that wrote to %s could commit (it rolls back)",
			ordinal(t.nth), t.table)
	}
	return "on a trigger that was never set up"
}

// nthWord is "" for the first time, "3rd " for the third.
func (t Trigger) nthWord() string {
	if t.nth <= 1 {
		return ""
	}
	return ordinal(t.nth) + " "
}

// ordinal spells 1 as "1st", 2 as "2nd", 11 as "11th".
func ordinal(n int) string {
	suffix := "th"
	switch {
	case n%100 >= 11 && n%100 <= 13:
	case n%10 == 1:
		suffix = "st"
	case n%10 == 2:
		suffix = "nd"
	case n%10 == 3:
		suffix = "rd"
	}
	return fmt.Sprintf("%d%s", n, suffix)
}
