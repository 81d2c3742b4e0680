package edges

// You do not need to edit this file: it holds the tables of the three services in this lab.

// SalesSchema is Sales' database: the orders its HTTP API creates, the outbox their OrderPlaced events wait in, and
// the table of idempotency keys the API team added for you (the starter does not use it yet). A key belongs to the
// request that first used it: the fingerprint column is there to tell a retry (the same request again) from a
// different request that reuses the key.
const SalesSchema = `
CREATE TABLE orders (
	id              text PRIMARY KEY,
	idempotency_key text NOT NULL, -- the customer's checkout, kept on the order for the audit
	customer        text NOT NULL,
	cents           int  NOT NULL
);
CREATE TABLE outbox (
	message_id text PRIMARY KEY,
	type       text  NOT NULL,
	body       jsonb NOT NULL
);
CREATE TABLE idempotency_keys (
	key         text PRIMARY KEY, -- the Idempotency-Key header of a POST /orders
	fingerprint text NOT NULL,    -- what identifies the request that first used the key (a hash of it, say)
	status      int  NOT NULL,    -- the HTTP status the first request answered
	body        text NOT NULL     -- the body it answered, to be sent again to every retry
)`

// BillingSchema is Billing's database: its inbox of handled message ids (lab 5) and the charges it made.
const BillingSchema = `
CREATE TABLE billing_inbox (
	message_id text PRIMARY KEY
);
CREATE TABLE charges (
	id       bigserial PRIMARY KEY,
	order_id text NOT NULL,
	cents    int  NOT NULL
)`

// ShippingSchema is Shipping's database: its inbox and the parcels it sent. An order may legitimately go out in
// several parcels, so nothing but the inbox stops a second parcel for the same OrderBilled.
const ShippingSchema = `
CREATE TABLE shipping_inbox (
	message_id text PRIMARY KEY
);
CREATE TABLE parcels (
	id       bigserial PRIMARY KEY,
	order_id text NOT NULL
)`

// LegacySchema is the old phone-order desk's "database as a queue": it INSERTs one row per OrderPlaced, and whoever
// reads the table deletes the rows it took. The desk writes each message at least once: when its own INSERT times
// out it writes the row again, with the same msg_id.
const LegacySchema = `
CREATE TABLE phone_orders (
	position bigserial PRIMARY KEY,
	msg_id   text NOT NULL, -- the desk's id for the message; a retried INSERT repeats it
	order_id text NOT NULL,
	customer text NOT NULL,
	cents    int  NOT NULL
)`
