-- +goose Up
-- The schema as the hand-written runner left it, now goose's first version.
-- Every statement is IF NOT EXISTS: a database that runner migrated already
-- has these objects (and its schema_migrations table, kept so an older
-- binary still starts), and goose then only records version 1.
--
-- Orders as consumed. raw is the canonical JSON of the whole order and is what
-- reads return; the columns beside it are for queries and for people.
--
-- order_uid uses the "C" collation everywhere so that ORDER BY sorts uids
-- byte by byte, as the service's cache does, whatever the server's locale.

CREATE TABLE IF NOT EXISTS orders (
    order_uid          text COLLATE "C" PRIMARY KEY,
    track_number       text        NOT NULL,
    entry              text        NOT NULL,
    locale             text        NOT NULL DEFAULT '',
    internal_signature text        NOT NULL DEFAULT '',
    customer_id        text        NOT NULL DEFAULT '',
    delivery_service   text        NOT NULL DEFAULT '',
    shardkey           text        NOT NULL DEFAULT '',
    sm_id              bigint      NOT NULL CHECK (sm_id >= 0),
    date_created       timestamptz NOT NULL,
    oof_shard          text        NOT NULL DEFAULT '',
    raw                jsonb       NOT NULL,
    stored_at          timestamptz NOT NULL DEFAULT now()
);

-- The cache is warmed with the newest orders at start.
CREATE INDEX IF NOT EXISTS orders_newest_idx ON orders (date_created DESC, order_uid DESC);

CREATE TABLE IF NOT EXISTS deliveries (
    order_uid text COLLATE "C" PRIMARY KEY REFERENCES orders (order_uid) ON DELETE CASCADE,
    name      text NOT NULL,
    phone     text NOT NULL,
    zip       text NOT NULL DEFAULT '',
    city      text NOT NULL,
    address   text NOT NULL,
    region    text NOT NULL DEFAULT '',
    email     text NOT NULL DEFAULT ''
);

-- Money is in minor units. The checks repeat only what validation already
-- guarantees: a stricter check here would turn a valid order into a write that
-- fails on every retry.
CREATE TABLE IF NOT EXISTS payments (
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

-- position is the item's index in the order, so replaying an order can never
-- add its items twice.
CREATE TABLE IF NOT EXISTS items (
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
