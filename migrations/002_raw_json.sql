-- +goose Up
-- raw becomes json, which keeps the bytes it is given: the store writes the
-- order's canonical JSON and reads it back byte for byte, with no decode and
-- re-encode per read. Equality of two orders ("the same order") is still
-- decided as JSON values, by casting both sides to jsonb where it is needed.
-- Rows written before keep jsonb's rendering of the same values.
ALTER TABLE orders ALTER COLUMN raw TYPE json USING raw::json;

-- +goose Down
ALTER TABLE orders ALTER COLUMN raw TYPE jsonb USING raw::jsonb;
