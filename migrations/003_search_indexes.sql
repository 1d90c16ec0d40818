-- +goose Up
-- Listings filter on one exact value and run newest first by
-- (date_created, order_uid); with the key after the filter column an index
-- serves both the match and the keyset order.
CREATE INDEX IF NOT EXISTS orders_track_number_idx ON orders (track_number, date_created DESC, order_uid DESC);
CREATE INDEX IF NOT EXISTS orders_customer_id_idx ON orders (customer_id, date_created DESC, order_uid DESC);
-- A phone or a transaction matches few orders: find them, then sort.
CREATE INDEX IF NOT EXISTS deliveries_phone_idx ON deliveries (phone);
CREATE INDEX IF NOT EXISTS payments_transaction_idx ON payments (transaction);

-- +goose Down
DROP INDEX IF EXISTS payments_transaction_idx;
DROP INDEX IF EXISTS deliveries_phone_idx;
DROP INDEX IF EXISTS orders_customer_id_idx;
DROP INDEX IF EXISTS orders_track_number_idx;
