package postgres

import "go.uber.org/fx"

// Module provides *Store from a Config that app supplies, connected and
// migrated by the time its start hook returns, so whatever depends on it
// starts against a ready schema.
var Module = fx.Module("postgres", fx.Provide(New))
