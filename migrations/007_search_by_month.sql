-- +goose Up
-- The four searches get a table of their own, order_search, partitioned by
-- the UTC month of date_created: each month's orders have their own four
-- search indexes. A new order is dated now, so it goes into the current
-- month's indexes, which stay as small as a month of orders. In orders it
-- went into four indexes as large as every order ever stored, on random
-- keys: at five million orders that cost ingest a third of its speed
-- (BENCHMARKS.md, "Growth").
--
-- orders keeps what is one per order and read by uid: the uid (unique across
-- all months, which a partitioned table cannot enforce, and dedup and
-- conflicts rest on it), the JSON, the newest-first and catch-up indexes.
-- GET by uid reads orders alone; a search page reads its keys in
-- order_search, newest month first, and each order's JSON from orders by uid.
--
-- Partitions: order_search_history holds every order dated before this
-- migration's month (the backfill; a database that had no orders keeps it
-- empty). From that month on, one partition per UTC month,
-- order_search_YYYY_MM, added ahead by order_search_add_months: this
-- migration adds the current month and the two after it, and every instance
-- calls it again at start and every hour. There is no default partition:
-- adding a month would have to scan it, with reads of it locked out, and
-- with one a page could not read the months newest first and stop early.
--
-- As in 006, writers are held off for the whole migration and reads go on;
-- instances of the previous version still storing fail once it has run
-- (their columns are gone), retry without committing offsets, and leave
-- their partitions to the new instances when stopped. The dropped columns'
-- bytes stay in the rows already stored until they are rewritten.
LOCK TABLE orders IN EXCLUSIVE MODE;

CREATE TABLE order_search (
    order_uid    text COLLATE "C" NOT NULL,
    date_created timestamptz      NOT NULL,
    track_number text             NOT NULL,
    customer_id  text             NOT NULL,
    phone        text COLLATE "C" NOT NULL,
    transaction  text COLLATE "C" NOT NULL
) PARTITION BY RANGE (date_created);

-- +goose StatementBegin
DO $$
BEGIN
    EXECUTE format('CREATE TABLE order_search_history PARTITION OF order_search FOR VALUES FROM (MINVALUE) TO (%L)',
                   date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC');
END
$$;
-- +goose StatementEnd

-- order_search_add_months adds the partitions of every month from the one
-- after the newest partition (or at's month when there is none) to the
-- ahead-th month after at's, and returns how many it added. Instances that
-- call it together take turns (a transaction lock, so it also works through
-- a transaction pooler); the second finds nothing to add. A month is
-- attached as an empty table: that locks order_search only against other
-- changes of its definition, never against reads or writes.
-- +goose StatementBegin
CREATE FUNCTION order_search_add_months(ahead integer, at timestamptz DEFAULT now()) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    month timestamp; -- the first moment of a UTC month
    last  timestamp := date_trunc('month', at AT TIME ZONE 'UTC') + make_interval(months => ahead);
    name  text;
    added integer := 0;
BEGIN
    PERFORM pg_advisory_xact_lock(31369497939178242); -- 0x6f_72_64_65_72_73_02: "orders" + 2
    SELECT coalesce(max(to_date(substring(c.relname FROM '^order_search_([0-9]{4}_[0-9]{2})$'), 'YYYY_MM'))::timestamp
                        + interval '1 month',
                    date_trunc('month', at AT TIME ZONE 'UTC'))
    INTO month
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'order_search'::regclass;
    WHILE month <= last LOOP
        name := 'order_search_' || to_char(month, 'YYYY_MM');
        EXECUTE format('CREATE TABLE %I (LIKE order_search)', name);
        EXECUTE format('ALTER TABLE order_search ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                       name, month AT TIME ZONE 'UTC', (month + interval '1 month') AT TIME ZONE 'UTC');
        added := added + 1;
        month := month + interval '1 month';
    END LOOP;
    RETURN added;
END
$$;
-- +goose StatementEnd

SELECT order_search_add_months(2);

INSERT INTO order_search (order_uid, date_created, track_number, customer_id, phone, transaction)
SELECT order_uid, date_created, track_number, customer_id, phone, transaction FROM orders;

-- Each search's keyset index, as it was on orders (003, 006), now one per
-- month.
CREATE INDEX order_search_track_number_idx ON order_search (track_number, date_created DESC, order_uid DESC);
CREATE INDEX order_search_customer_id_idx ON order_search (customer_id, date_created DESC, order_uid DESC);
CREATE INDEX order_search_phone_idx ON order_search (phone, date_created DESC, order_uid DESC);
CREATE INDEX order_search_transaction_idx ON order_search (transaction, date_created DESC, order_uid DESC);

-- From here on each statement takes orders to itself, for a moment.
DROP INDEX orders_track_number_idx, orders_customer_id_idx, orders_phone_idx, orders_transaction_idx;
ALTER TABLE orders DROP COLUMN track_number, DROP COLUMN customer_id, DROP COLUMN phone, DROP COLUMN transaction;

-- +goose Down
LOCK TABLE orders IN EXCLUSIVE MODE;
ALTER TABLE orders
    ADD COLUMN track_number text             NOT NULL DEFAULT '',
    ADD COLUMN customer_id  text             NOT NULL DEFAULT '',
    ADD COLUMN phone        text COLLATE "C" NOT NULL DEFAULT '',
    ADD COLUMN transaction  text COLLATE "C" NOT NULL DEFAULT '';
UPDATE orders o SET track_number = k.track_number, customer_id = k.customer_id, phone = k.phone,
                    transaction = k.transaction
FROM order_search k
WHERE k.order_uid = o.order_uid;
ALTER TABLE orders ALTER COLUMN track_number DROP DEFAULT, ALTER COLUMN phone DROP DEFAULT,
                   ALTER COLUMN transaction DROP DEFAULT;
CREATE INDEX orders_track_number_idx ON orders (track_number, date_created DESC, order_uid DESC);
CREATE INDEX orders_customer_id_idx ON orders (customer_id, date_created DESC, order_uid DESC);
CREATE INDEX orders_phone_idx ON orders (phone, date_created DESC, order_uid DESC);
CREATE INDEX orders_transaction_idx ON orders (transaction, date_created DESC, order_uid DESC);
DROP TABLE order_search;
DROP FUNCTION order_search_add_months(integer, timestamptz);
