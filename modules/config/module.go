package config

import (
	"os"

	"go.uber.org/fx"
)

// Path is the config file the service reads; a missing file means defaults.
type Path string

// Module provides Config, loaded from the file at Path and the process
// environment. A bad value fails the start with an *Error naming the key.
var Module = fx.Module("config",
	fx.Provide(func(p Path) (Config, error) { return Load(string(p), os.Environ()) }),
)
