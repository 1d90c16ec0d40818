package postgres

import (
	"context"
	"log/slog"
)

// Open is what New's start hook does, without Fx, for tests that open many
// stores.
func Open(ctx context.Context, cfg Config, log *slog.Logger) (*Store, error) {
	s := newStore(log)
	if err := s.open(ctx, cfg); err != nil {
		return nil, err
	}
	return s, nil
}
