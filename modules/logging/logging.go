// Package logging builds the service's structured logger and routes Fx's own
// events through it.
package logging

import (
	"io"
	"log/slog"
	"os"

	"go.uber.org/fx"
	"go.uber.org/fx/fxevent"
)

// Config is the log's level and format.
type Config struct {
	Level  string // debug, info, warn, error
	Format string // json, text
}

// Module provides *slog.Logger writing to standard error.
var Module = fx.Module("logging",
	fx.Provide(func(c Config) *slog.Logger { return New(os.Stderr, c) }),
)

// FxLogger makes Fx log through the service's logger, at debug level for the
// routine events so a normal start stays quiet.
var FxLogger = fx.WithLogger(func(l *slog.Logger) fxevent.Logger {
	fl := &fxevent.SlogLogger{Logger: l}
	fl.UseLogLevel(slog.LevelDebug)
	return fl
})

// New returns a logger writing to w in the configured format and level.
func New(w io.Writer, c Config) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level(c.Level)}
	if c.Format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

func level(s string) slog.Level {
	switch s {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	default:
		return slog.LevelInfo
	}
}
