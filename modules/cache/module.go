package cache

import "go.uber.org/fx"

// Config sizes the cache.
type Config struct {
	Capacity int // most orders held; 0 turns the cache off
	MaxBytes int // most bytes of their JSON held; 0: no bound but Capacity
}

// Module provides *Cache sized by Config.
var Module = fx.Module("cache",
	fx.Provide(func(c Config) *Cache { return NewBounded(c.Capacity, c.MaxBytes) }),
)
