package poison

import (
	"context"
	"strconv"

	amqp "github.com/rabbitmq/amqp091-go"
)

// You do not need to edit this file: it is lab 8's fix, Billing's broker-held retries.

// retryLater hands a message that failed to the broker to hold for its next delayed retry: a confirmed copy (same
// message, its retry count one up) in the delay queue of that retry, which sends it back to b.Queue once its wait is
// over. After the last delayed retry it parks the message instead. The caller acks d once retryLater returned nil.
func (b *Billing) retryLater(ctx context.Context, pub *amqp.Channel, d amqp.Delivery, cause error) error {
	n := retriesOf(d.Headers) + 1
	if n > DelayedRetries {
		return b.park(ctx, pub, d, cause)
	}
	msg := copyOf(d)
	msg.Headers[RetriesHeader] = int64(n)
	msg.Expiration = strconv.FormatInt(withJitter(RetryDelay(n)).Milliseconds(), 10) // held this long, then back
	return publishConfirmed(ctx, pub, DelayQueue(b.Queue, n), msg)
}
