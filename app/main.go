// Command app is the order service: it consumes orders from Kafka, stores them
// in PostgreSQL, caches the newest and serves them over HTTP.
package main

import (
	"flag"
	"fmt"
	"os"

	"go.uber.org/fx"

	"github.com/marketplace/orders/modules/config"
)

func main() {
	path := flag.String("config", "config.toml", "path of the TOML config file; a missing file means defaults")
	flag.Parse()
	// Loaded before Fx so that a bad value ends the start with one line naming
	// the key rather than a dependency-graph error.
	cfg, err := config.Load(*path, os.Environ())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	fx.New(Options(cfg)).Run()
}
