-- +goose Up
-- phone and transaction become columns of orders, so that their searches
-- read orders alone (006 fills them and drops the tables they came from).
-- With a constant default, adding a column changes only the catalogue: the
-- table lock it takes lasts a moment, where a backfill in the same
-- transaction would keep every read waiting until it ended. Instances of the
-- previous version go on storing meanwhile, with '' in both. Both are only
-- ever matched exactly, so their indexes compare bytes ("C"), whatever the
-- server's locale.
ALTER TABLE orders
    ADD COLUMN IF NOT EXISTS phone       text COLLATE "C" NOT NULL DEFAULT '',
    ADD COLUMN IF NOT EXISTS transaction text COLLATE "C" NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE orders DROP COLUMN IF EXISTS transaction, DROP COLUMN IF EXISTS phone;
