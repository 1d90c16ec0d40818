// Package migrations holds the database schema as goose migrations: numbered
// SQL files (`-- +goose Up`), applied in version order by the store at start.
package migrations

import "embed"

// FS holds every migration. A file, once released, is never edited: a change
// to the schema is a new file with the next number.
//
//go:embed *.sql
var FS embed.FS
