//go:build solution

// Why this fix: "look, then create" is a race: two attempts of one checkout can both look before either creates.
// Now the database decides: the Idempotency-Key is a primary key, inserted with the answer in the same transaction
// as the order and its outbox row. A second attempt blocks on that key until the first commits, inserts nothing, and
// sends the first attempt's stored answer, so the customer sees one order number however often the browser retries.
// If the first attempt fails, its transaction rolls back with the key, and the retry creates the order. This is one
// good answer, not the only one: a unique index on orders.idempotency_key would stop the second order too, but the
// stored answer is what lets every retry be told the same thing.

package edges

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"msglabs/shared/shop"
)

// IdempotencyHeader carries the customer's checkout id: the browser makes one per checkout and sends it with every
// attempt (the first POST, a retry after a timeout, a second click).
const IdempotencyHeader = "Idempotency-Key"

// OrderRequest is the body of POST /orders.
type OrderRequest struct {
	Customer string `json:"customer"`
	Cents    int    `json:"amount_cents"`
}

// OrderResponse is the body of a successful POST /orders.
type OrderResponse struct {
	OrderID string `json:"order_id"`
}

// Orders is Sales' HTTP API, the shop's front door: POST /orders creates an order and, in the same transaction, puts
// its OrderPlaced in the outbox (lab 6). An Orders is safe for concurrent use.
type Orders struct {
	DB *pgxpool.Pool
	// BeforeWrite, when set, is called by every request that gets as far as writing an order, just before its
	// transaction writes anything. Tests use it to hold two requests at the same point.
	BeforeWrite func(key string)
}

// ServeHTTP handles POST /orders with an Idempotency-Key header and an OrderRequest body.
func (o *Orders) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key := r.Header.Get(IdempotencyHeader)
	if key == "" {
		http.Error(w, "missing "+IdempotencyHeader, http.StatusBadRequest)
		return
	}
	var req OrderRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, "bad order: "+err.Error(), http.StatusBadRequest)
		return
	}
	o.hold(key)
	answer, err := o.createOnce(r.Context(), key, req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(answer.Status)
	_, _ = w.Write([]byte(answer.Body))
}

// storedAnswer is the response given to the first attempt of a checkout, kept to be given to every retry.
type storedAnswer struct {
	Status int
	Body   string
}

// createOnce creates the order for a checkout, unless an attempt with the same key already did, and returns the
// answer for this attempt: its own, or the first attempt's. The key, the order and its outbox row are written in one
// transaction, so either all three exist or none does.
func (o *Orders) createOnce(ctx context.Context, key string, req OrderRequest) (storedAnswer, error) {
	orderID := newOrderID()
	body, err := json.Marshal(OrderResponse{OrderID: orderID})
	if err != nil {
		return storedAnswer{}, fmt.Errorf("encode answer: %w", err)
	}
	mine := storedAnswer{Status: http.StatusCreated, Body: string(body)}
	claimed := false
	err = pgx.BeginFunc(ctx, o.DB, func(tx pgx.Tx) error {
		// The primary key decides. A second attempt waits here until the first commits (then inserts nothing) or
		// rolls back (then this one goes ahead).
		tag, err := tx.Exec(ctx,
			`INSERT INTO idempotency_keys (key, status, body) VALUES ($1, $2, $3) ON CONFLICT (key) DO NOTHING`,
			key, mine.Status, mine.Body)
		if err != nil {
			return fmt.Errorf("claim checkout %s: %w", key, err)
		}
		if tag.RowsAffected() == 0 {
			return nil // another attempt made this order: write nothing
		}
		claimed = true
		return insertOrder(ctx, tx, key, orderID, req)
	})
	if err != nil {
		return storedAnswer{}, err
	}
	if claimed {
		return mine, nil
	}
	return o.storedAnswer(ctx, key)
}

// storedAnswer reads the answer the first attempt of a checkout gave.
func (o *Orders) storedAnswer(ctx context.Context, key string) (storedAnswer, error) {
	var a storedAnswer
	err := o.DB.QueryRow(ctx, `SELECT status, body FROM idempotency_keys WHERE key = $1`, key).Scan(&a.Status, &a.Body)
	if errors.Is(err, pgx.ErrNoRows) {
		return storedAnswer{}, fmt.Errorf("checkout %s has no stored answer", key)
	}
	if err != nil {
		return storedAnswer{}, fmt.Errorf("read stored answer of %s: %w", key, err)
	}
	return a, nil
}

// hold calls the BeforeWrite hook, if any.
func (o *Orders) hold(key string) {
	if o.BeforeWrite != nil {
		o.BeforeWrite(key)
	}
}

// insertOrder writes the order and its OrderPlaced outbox row in tx.
func insertOrder(ctx context.Context, tx pgx.Tx, key, orderID string, req OrderRequest) error {
	_, err := tx.Exec(ctx, `INSERT INTO orders (id, idempotency_key, customer, cents) VALUES ($1, $2, $3, $4)`,
		orderID, key, req.Customer, req.Cents)
	if err != nil {
		return fmt.Errorf("insert order %s: %w", orderID, err)
	}
	body, err := shop.Encode(shop.OrderPlaced{OrderID: orderID, Customer: req.Customer, Cents: req.Cents})
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO outbox (message_id, type, body) VALUES ($1, $2, $3)`,
		"placed-"+orderID, "OrderPlaced", body)
	if err != nil {
		return fmt.Errorf("insert outbox row for %s: %w", orderID, err)
	}
	return nil
}

// newOrderID makes a fresh, readable order id such as "o-3fa2c1d0".
func newOrderID() string { return "o-" + uuid.NewString()[:8] }
