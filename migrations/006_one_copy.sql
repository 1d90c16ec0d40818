-- +goose Up
-- An order is stored once. raw, its canonical JSON, is what every read
-- returns; beside it orders keeps only what a query filters or sorts on:
--   order_uid      the primary key: one row per uid, GET by uid;
--   date_created   with order_uid, newest first: warm-up, the home page, the
--                  keyset of every listing;
--   track_number, customer_id, phone, transaction
--                  the four searches, each with its keyset index;
--   stored_xid     catch-up of a cache that missed news (004);
--   stored_at      when this database took the order, for people.
-- Until now the order was stored twice: as raw and again as rows of
-- deliveries, payments and items plus seven columns that no query reads.
-- Those copies served only the phone and transaction searches (one join
-- each); they are dropped, and 005's columns take their place.
--
-- Writers are held off for the whole migration, and reads go on: EXCLUSIVE
-- lets only reads through, and the backfill and the index builds need
-- nothing stronger. An instance of the previous version that is still
-- storing waits, and once this has run it fails to store (its columns and
-- tables are gone), retries without committing its offsets, and its
-- partitions are stored by the new instances once it stops. What needs the
-- table to itself (dropping tables, columns and an index) comes last and
-- takes a moment. README, "Upgrading to schema version 6", has the figures.
LOCK TABLE orders IN EXCLUSIVE MODE;

-- raw holds both for every order ever stored; rows written before 002 as
-- jsonb read the same through json.
UPDATE orders SET phone       = coalesce(raw -> 'delivery' ->> 'phone', ''),
                  transaction = coalesce(raw -> 'payment' ->> 'transaction', '')
WHERE phone = '' OR transaction = '';

CREATE INDEX IF NOT EXISTS orders_phone_idx ON orders (phone, date_created DESC, order_uid DESC);
CREATE INDEX IF NOT EXISTS orders_transaction_idx ON orders (transaction, date_created DESC, order_uid DESC);

-- Newest first is read backwards from an ascending index. Descending, every
-- new order went to the index's first leaf, whose splits leave both halves
-- half full (52% at five million orders); ascending, it goes to the last
-- leaf, which PostgreSQL fills to 90% and finds without a descent.
CREATE INDEX IF NOT EXISTS orders_newest_asc_idx ON orders (date_created, order_uid);

-- From here on each statement takes the table to itself, for a moment.
ALTER TABLE orders ALTER COLUMN phone DROP DEFAULT, ALTER COLUMN transaction DROP DEFAULT;
DROP TABLE IF EXISTS items, deliveries, payments;
ALTER TABLE orders
    DROP COLUMN IF EXISTS entry,
    DROP COLUMN IF EXISTS locale,
    DROP COLUMN IF EXISTS internal_signature,
    DROP COLUMN IF EXISTS delivery_service,
    DROP COLUMN IF EXISTS shardkey,
    DROP COLUMN IF EXISTS sm_id,
    DROP COLUMN IF EXISTS oof_shard;
DROP INDEX IF EXISTS orders_newest_idx;
ALTER INDEX orders_newest_asc_idx RENAME TO orders_newest_idx;

-- +goose Down
-- The dropped copies come back from raw, each order's JSON read once as
-- jsonb.
LOCK TABLE orders IN EXCLUSIVE MODE;
ALTER INDEX orders_newest_idx RENAME TO orders_newest_asc_idx;
CREATE INDEX orders_newest_idx ON orders (date_created DESC, order_uid DESC);
DROP INDEX orders_newest_asc_idx;
CREATE TEMP TABLE one_copy_down ON COMMIT DROP AS SELECT order_uid, raw::jsonb AS j FROM orders;
ALTER TABLE orders
    ADD COLUMN entry              text   NOT NULL DEFAULT '',
    ADD COLUMN locale             text   NOT NULL DEFAULT '',
    ADD COLUMN internal_signature text   NOT NULL DEFAULT '',
    ADD COLUMN delivery_service   text   NOT NULL DEFAULT '',
    ADD COLUMN shardkey           text   NOT NULL DEFAULT '',
    ADD COLUMN sm_id              bigint NOT NULL DEFAULT 0 CHECK (sm_id >= 0),
    ADD COLUMN oof_shard          text   NOT NULL DEFAULT '';
UPDATE orders o SET entry = r.entry, locale = r.locale, internal_signature = r.internal_signature,
                    delivery_service = r.delivery_service, shardkey = r.shardkey, sm_id = r.sm_id, oof_shard = r.oof_shard
FROM one_copy_down d,
     jsonb_to_record(d.j) AS r (entry text, locale text, internal_signature text, delivery_service text,
                                shardkey text, sm_id bigint, oof_shard text)
WHERE o.order_uid = d.order_uid;
ALTER TABLE orders ALTER COLUMN entry DROP DEFAULT, ALTER COLUMN sm_id DROP DEFAULT;
CREATE TABLE deliveries (
    order_uid text COLLATE "C" PRIMARY KEY REFERENCES orders (order_uid) ON DELETE CASCADE,
    name      text NOT NULL,
    phone     text NOT NULL,
    zip       text NOT NULL DEFAULT '',
    city      text NOT NULL,
    address   text NOT NULL,
    region    text NOT NULL DEFAULT '',
    email     text NOT NULL DEFAULT ''
);
INSERT INTO deliveries
SELECT d.order_uid, r.name, r.phone, r.zip, r.city, r.address, r.region, r.email
FROM one_copy_down d,
     jsonb_to_record(d.j -> 'delivery') AS r (name text, phone text, zip text, city text, address text, region text, email text);
CREATE TABLE payments (
    order_uid     text COLLATE "C" PRIMARY KEY REFERENCES orders (order_uid) ON DELETE CASCADE,
    transaction   text   NOT NULL,
    request_id    text   NOT NULL DEFAULT '',
    currency      text   NOT NULL,
    provider      text   NOT NULL,
    amount        bigint NOT NULL CHECK (amount >= 0),
    payment_dt    bigint NOT NULL CHECK (payment_dt >= 0),
    bank          text   NOT NULL DEFAULT '',
    delivery_cost bigint NOT NULL CHECK (delivery_cost >= 0),
    goods_total   bigint NOT NULL CHECK (goods_total >= 0),
    custom_fee    bigint NOT NULL CHECK (custom_fee >= 0)
);
INSERT INTO payments
SELECT d.order_uid, r.transaction, r.request_id, r.currency, r.provider, r.amount, r.payment_dt, r.bank,
       r.delivery_cost, r.goods_total, r.custom_fee
FROM one_copy_down d,
     jsonb_to_record(d.j -> 'payment') AS r (transaction text, request_id text, currency text, provider text,
                                              amount bigint, payment_dt bigint, bank text, delivery_cost bigint,
                                              goods_total bigint, custom_fee bigint);
CREATE TABLE items (
    order_uid    text COLLATE "C" NOT NULL REFERENCES orders (order_uid) ON DELETE CASCADE,
    position     integer NOT NULL CHECK (position >= 0),
    chrt_id      bigint  NOT NULL CHECK (chrt_id >= 0),
    track_number text    NOT NULL DEFAULT '',
    price        bigint  NOT NULL CHECK (price >= 0),
    rid          text    NOT NULL DEFAULT '',
    name         text    NOT NULL,
    sale         bigint  NOT NULL CHECK (sale BETWEEN 0 AND 100),
    size         text    NOT NULL DEFAULT '',
    total_price  bigint  NOT NULL CHECK (total_price >= 0),
    nm_id        bigint  NOT NULL CHECK (nm_id >= 0),
    brand        text    NOT NULL DEFAULT '',
    status       bigint  NOT NULL CHECK (status >= 0),
    PRIMARY KEY (order_uid, position)
);
INSERT INTO items
SELECT d.order_uid, (r.n - 1)::integer, r.chrt_id, r.track_number, r.price, r.rid, r.name, r.sale, r.size,
       r.total_price, r.nm_id, r.brand, r.status
FROM one_copy_down d,
     ROWS FROM (jsonb_to_recordset(d.j -> 'items') AS (chrt_id bigint, track_number text, price bigint, rid text,
                                                       name text, sale bigint, size text, total_price bigint,
                                                       nm_id bigint, brand text, status bigint))
     WITH ORDINALITY AS r (chrt_id, track_number, price, rid, name, sale, size, total_price, nm_id, brand, status, n);
CREATE INDEX deliveries_phone_idx ON deliveries (phone);
CREATE INDEX payments_transaction_idx ON payments (transaction);
DROP INDEX IF EXISTS orders_transaction_idx;
DROP INDEX IF EXISTS orders_phone_idx;
ALTER TABLE orders ALTER COLUMN phone SET DEFAULT '', ALTER COLUMN transaction SET DEFAULT '';
