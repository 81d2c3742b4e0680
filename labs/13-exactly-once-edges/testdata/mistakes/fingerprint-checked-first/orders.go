// Mistake fingerprint-checked-first: the fingerprint was compared when the key was looked up, before the claim, so a different request that raced the first one to the key was told its answer
// Why an attendee writes it: a reused key is refused before anything is written, and a conflict on the claim looks like it can only be the double click

package edges

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
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
	var first string // a key seen before with another request is refused at once, before anything is written
	err := o.DB.QueryRow(r.Context(), `SELECT fingerprint FROM idempotency_keys WHERE key = $1`, key).Scan(&first)
	if err == nil && first != fingerprint(req) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnprocessableEntity)
		_, _ = w.Write([]byte(keyReused))
		return
	}
	o.hold(key)
	status, body, err := o.createOnce(r.Context(), key, req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

// keyReused is the answer to a request whose key was first used for a different request.
const keyReused = `{"error":"this Idempotency-Key was first used for a different order: make a new key for a new checkout"}`

// createOnce creates the order for a checkout, unless an attempt with the same key already did, and returns the
// answer for this attempt: its own; the first attempt's, stored with the key; or 422 when the key was first used for
// a different request. The key, the order and its outbox row are written in one transaction, so either all three
// exist or none does.
func (o *Orders) createOnce(ctx context.Context, key string, req OrderRequest) (status int, body string, err error) {
	orderID := newOrderID()
	mine, err := json.Marshal(OrderResponse{OrderID: orderID})
	if err != nil {
		return 0, "", fmt.Errorf("encode answer: %w", err)
	}
	fp := fingerprint(req)
	status, body = http.StatusCreated, string(mine)
	err = pgx.BeginFunc(ctx, o.DB, func(tx pgx.Tx) error {
		// The primary key decides. A second attempt waits here until the first commits (then inserts nothing) or
		// rolls back (then this one goes ahead).
		tag, err := tx.Exec(ctx, `INSERT INTO idempotency_keys (key, fingerprint, status, body) VALUES ($1, $2, $3, $4)
			ON CONFLICT (key) DO NOTHING`, key, fp, status, body)
		if err != nil {
			return fmt.Errorf("claim checkout %s: %w", key, err)
		}
		if tag.RowsAffected() == 1 {
			return insertOrder(ctx, tx, key, orderID, req)
		}
		// Another attempt of this checkout got here first (a double click): answer what it answered.
		err = tx.QueryRow(ctx, `SELECT status, body FROM idempotency_keys WHERE key = $1`, key).Scan(&status, &body)
		if err != nil {
			return fmt.Errorf("read the stored answer of %s: %w", key, err)
		}
		return nil
	})
	return status, body, err
}

// fingerprint identifies a request by what the API acts on: the order as decoded, encoded again, so a retry that
// formats the same order differently is still the same request.
func fingerprint(req OrderRequest) string {
	canonical, _ := json.Marshal(req) // a struct of a string and an int always encodes
	sum := sha256.Sum256(canonical)
	return hex.EncodeToString(sum[:])
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
