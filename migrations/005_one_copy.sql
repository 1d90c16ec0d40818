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
-- each); they are dropped, and the two values become columns.
--
-- Writers are held off for the whole migration (EXCLUSIVE still lets
-- reads run): an instance of the previous version that is still storing
-- would otherwise commit an order without phone and transaction after the
-- backfill. Once this has run, such an instance fails to store (its columns
-- and tables are gone), retries without committing its offsets, and its
-- partitions are stored by the new instances once it stops. On a large
-- table the backfill rewrites every row: about <see README "Upgrading">.
LOCK TABLE orders IN EXCLUSIVE MODE;

ALTER TABLE orders
    ADD COLUMN IF NOT EXISTS phone       text NOT NULL DEFAULT '',
    ADD COLUMN IF NOT EXISTS transaction text NOT NULL DEFAULT '';
-- raw holds both for every order ever stored; rows written before 002 as
-- jsonb read the same through json.
UPDATE orders SET phone       = coalesce(raw -> 'delivery' ->> 'phone', ''),
                  transaction = coalesce(raw -> 'payment' ->> 'transaction', '');
-- Every writer names them from now on.
ALTER TABLE orders ALTER COLUMN phone DROP DEFAULT, ALTER COLUMN transaction DROP DEFAULT;

CREATE INDEX IF NOT EXISTS orders_phone_idx ON orders (phone, date_created DESC, order_uid DESC);
CREATE INDEX IF NOT EXISTS orders_transaction_idx ON orders (transaction, date_created DESC, order_uid DESC);

DROP TABLE IF EXISTS items, deliveries, payments;
ALTER TABLE orders
    DROP COLUMN IF EXISTS entry,
    DROP COLUMN IF EXISTS locale,
    DROP COLUMN IF EXISTS internal_signature,
    DROP COLUMN IF EXISTS delivery_service,
    DROP COLUMN IF EXISTS shardkey,
    DROP COLUMN IF EXISTS sm_id,
    DROP COLUMN IF EXISTS oof_shard;

-- Newest first is read backwards from an ascending index. Descending, every
-- new order went to the index's first leaf, whose splits leave both halves
-- half full (52% at five million orders); ascending, it goes to the last
-- leaf, which PostgreSQL fills to 90% and finds without a descent.
DROP INDEX IF EXISTS orders_newest_idx;
CREATE INDEX orders_newest_idx ON orders (date_created, order_uid);

-- +goose Down
-- The dropped copies come back from raw.
LOCK TABLE orders IN EXCLUSIVE MODE;
DROP INDEX IF EXISTS orders_newest_idx;
CREATE INDEX orders_newest_idx ON orders (date_created DESC, order_uid DESC);
ALTER TABLE orders
    ADD COLUMN entry              text   NOT NULL DEFAULT '',
    ADD COLUMN locale             text   NOT NULL DEFAULT '',
    ADD COLUMN internal_signature text   NOT NULL DEFAULT '',
    ADD COLUMN delivery_service   text   NOT NULL DEFAULT '',
    ADD COLUMN shardkey           text   NOT NULL DEFAULT '',
    ADD COLUMN sm_id              bigint NOT NULL DEFAULT 0 CHECK (sm_id >= 0),
    ADD COLUMN oof_shard          text   NOT NULL DEFAULT '';
UPDATE orders SET entry = raw ->> 'entry', locale = raw ->> 'locale',
                  internal_signature = raw ->> 'internal_signature', delivery_service = raw ->> 'delivery_service',
                  shardkey = raw ->> 'shardkey', sm_id = (raw ->> 'sm_id')::bigint, oof_shard = raw ->> 'oof_shard';
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
SELECT order_uid, d ->> 'name', d ->> 'phone', d ->> 'zip', d ->> 'city', d ->> 'address', d ->> 'region', d ->> 'email'
FROM (SELECT order_uid, raw -> 'delivery' AS d FROM orders) AS o;
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
SELECT order_uid, p ->> 'transaction', p ->> 'request_id', p ->> 'currency', p ->> 'provider',
       (p ->> 'amount')::bigint, (p ->> 'payment_dt')::bigint, p ->> 'bank', (p ->> 'delivery_cost')::bigint,
       (p ->> 'goods_total')::bigint, (p ->> 'custom_fee')::bigint
FROM (SELECT order_uid, raw -> 'payment' AS p FROM orders) AS o;
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
SELECT order_uid, (n - 1)::integer, (i ->> 'chrt_id')::bigint, i ->> 'track_number', (i ->> 'price')::bigint,
       i ->> 'rid', i ->> 'name', (i ->> 'sale')::bigint, i ->> 'size', (i ->> 'total_price')::bigint,
       (i ->> 'nm_id')::bigint, i ->> 'brand', (i ->> 'status')::bigint
FROM orders, json_array_elements(raw -> 'items') WITH ORDINALITY AS e (i, n);
CREATE INDEX deliveries_phone_idx ON deliveries (phone);
CREATE INDEX payments_transaction_idx ON payments (transaction);
DROP INDEX IF EXISTS orders_transaction_idx;
DROP INDEX IF EXISTS orders_phone_idx;
ALTER TABLE orders DROP COLUMN transaction, DROP COLUMN phone;
