package postgres

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"gorm.io/gorm/logger"
)

// gormLog routes gorm's own messages to slog at warn and above. It never logs
// statements: they carry customer data. Query errors are not logged here
// because the store returns them, and whoever handles them logs them once.
type gormLog struct {
	log  *slog.Logger
	slow time.Duration
}

func (g gormLog) LogMode(logger.LogLevel) logger.Interface { return g }

func (g gormLog) Info(context.Context, string, ...any) {}

func (g gormLog) Warn(ctx context.Context, msg string, args ...any) {
	g.log.WarnContext(ctx, "gorm: "+fmt.Sprintf(msg, args...))
}

func (g gormLog) Error(ctx context.Context, msg string, args ...any) {
	g.log.ErrorContext(ctx, "gorm: "+fmt.Sprintf(msg, args...))
}

// Trace never calls fc: it renders the statement with its values inlined,
// which is costly for a batch insert and is exactly what must not be logged.
func (g gormLog) Trace(ctx context.Context, begin time.Time, _ func() (string, int64), err error) {
	if elapsed := time.Since(begin); elapsed >= g.slow && err == nil {
		g.log.WarnContext(ctx, "slow query", "elapsed", elapsed)
	}
}
