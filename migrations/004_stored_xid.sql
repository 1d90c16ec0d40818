-- +goose Up
-- stored_xid is the transaction that stored the order. Every instance's
-- cache follows the orders other instances store (NOTIFY at commit); after a
-- lost listening connection or a restart it catches up with the orders
-- stored since the last point it saw. That point is a snapshot's xmin: every
-- transaction below it has ended, so a commit that comes later always has a
-- stored_xid at or above it, whatever order transactions commit in (a
-- sequence or a timestamp, taken before commit, could be overtaken).
-- Orders stored before this migration have none and are never caught up on:
-- the instance that reads them warms its cache from the newest orders anyway.
ALTER TABLE orders ADD COLUMN IF NOT EXISTS stored_xid xid8;
ALTER TABLE orders ALTER COLUMN stored_xid SET DEFAULT pg_current_xact_id();
CREATE INDEX IF NOT EXISTS orders_stored_xid_idx ON orders (stored_xid);

-- +goose Down
DROP INDEX IF EXISTS orders_stored_xid_idx;
ALTER TABLE orders DROP COLUMN IF EXISTS stored_xid;
