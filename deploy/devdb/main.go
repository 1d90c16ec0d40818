// Command devdb runs a local PostgreSQL for development from the installed
// server binaries, keeping its data in .data/pg between runs. It prints the
// DSN to use as APP_POSTGRES_DSN and runs until SIGINT or SIGTERM.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/marketplace/orders/deploy/pglocal"
	"github.com/marketplace/orders/modules/gorun"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	gorun.FollowParent()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(ctx, os.Args[1:], os.Stdout, log); err != nil {
		log.Error("devdb failed", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer, log *slog.Logger) error {
	fs := flag.NewFlagSet("devdb", flag.ContinueOnError)
	port := fs.Int("port", 55432, "TCP port on 127.0.0.1")
	dir := fs.String("dir", ".data/pg", "data directory, kept between runs")
	verbose := fs.Bool("v", false, "copy the server's log to stderr")
	if err := fs.Parse(args); err != nil {
		return err
	}
	opts := pglocal.Options{Dir: *dir, Port: *port}
	if *verbose {
		opts.Log = os.Stderr
	}
	cluster, err := pglocal.Start(ctx, opts)
	if err != nil {
		return err
	}
	dsn := cluster.DSN(pglocal.AppDatabase)
	// The DSN alone on stdout, so a script can capture it.
	if _, err := fmt.Fprintln(stdout, dsn); err != nil {
		_ = cluster.Stop()
		return err
	}
	log.Info("postgres is up; stop with Ctrl-C", "dir", cluster.DataDir(), "port", cluster.Port(), "env", "APP_POSTGRES_DSN")
	<-ctx.Done()
	log.Info("stopping postgres")
	return cluster.Stop()
}
