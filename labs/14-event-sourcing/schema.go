package sourcing

// You do not need to edit this file.

// Schema holds the event store and the read model fed from it: the shop's database.
const Schema = `
CREATE TABLE events (
	position    bigserial   PRIMARY KEY,        -- the order events were stored in, across all streams
	stream_id   text        NOT NULL,           -- the order the event belongs to, e.g. "o-1"
	version     int         NOT NULL,           -- 1, 2, 3… within the stream
	type        text        NOT NULL,
	data        jsonb       NOT NULL,
	recorded_at timestamptz NOT NULL DEFAULT now(),
	UNIQUE (stream_id, version)                 -- one event per slot of a stream
);
CREATE TABLE order_summaries (                  -- the read model: one row per order, for the shop's pages
	order_id text PRIMARY KEY,
	customer text NOT NULL,
	items    int  NOT NULL,
	cents    int  NOT NULL,
	status   text NOT NULL
);
CREATE TABLE projection_checkpoints (           -- how far the projection got in each stream
	stream_id text PRIMARY KEY,
	version   int  NOT NULL
)`

// MailSchema is the mail provider's own database (a stand-in, in a schema of its own): the shop's code cannot see it,
// as it could not see a real provider's.
const MailSchema = `
CREATE TABLE mail_keys (                        -- the mail provider's idempotency keys: e-mail ids it sent, and when
	email_id text        PRIMARY KEY,
	sent_at  timestamptz NOT NULL
);
CREATE TABLE sent_emails (                      -- what the mail provider sent
	id       bigserial PRIMARY KEY,
	email_id text NOT NULL,
	order_id text NOT NULL,
	subject  text NOT NULL
)`
