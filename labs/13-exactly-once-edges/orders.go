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
	// TODO(lab): "look, then create" lets two attempts of one checkout through when they arrive together, on one
	// Sales instance or on two: both look, both find nothing, both create an order. And a key reused with another
	// basket is answered as if it were a retry, with the first basket's order. Let the database decide which attempt
	// owns a checkout, in the transaction that writes the order; tell every retry what the first attempt was told;
	// refuse a different request that reuses a key (422 Unprocessable Entity) and make no order for it.
	existing, err := o.findOrder(r.Context(), key)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if existing != "" {
		writeJSON(w, http.StatusCreated, OrderResponse{OrderID: existing})
		return
	}
	o.hold(key)
	orderID := newOrderID()
	if err := o.create(r.Context(), key, orderID, req); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	writeJSON(w, http.StatusCreated, OrderResponse{OrderID: orderID})
}

// findOrder returns the id of the order made for this checkout, or "" if there is none yet.
func (o *Orders) findOrder(ctx context.Context, key string) (string, error) {
	var id string
	err := o.DB.QueryRow(ctx, `SELECT id FROM orders WHERE idempotency_key = $1`, key).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("look up checkout %s: %w", key, err)
	}
	return id, nil
}

// create writes the order and its OrderPlaced outbox row in one transaction.
func (o *Orders) create(ctx context.Context, key, orderID string, req OrderRequest) error {
	return pgx.BeginFunc(ctx, o.DB, func(tx pgx.Tx) error {
		return insertOrder(ctx, tx, key, orderID, req)
	})
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

// writeJSON answers status with v as a JSON body.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
