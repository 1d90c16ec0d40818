// Command producer publishes orders to the orders topic: generated ones
// (optionally with a share of deliberately broken messages) or the orders in
// a JSON file. With -replay-dlq it instead republishes the messages parked in
// the DLQ topic, once their cause is fixed. It exits 0 only once the broker
// has acknowledged every message.
//
//	go run ./producer -count 1000 -invalid 0.1
//	go run ./producer -file modules/order/testdata/model.json
//	go run ./producer -replay-dlq -dry-run
//	go run ./producer -replay-dlq -kind validation
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/marketplace/orders/modules/config"
	"github.com/marketplace/orders/modules/kafka"
	"github.com/marketplace/orders/modules/order"
	"github.com/marketplace/orders/modules/order/fake"
)

func main() {
	os.Exit(runMain())
}

// runMain is main with its defers, which os.Exit would skip.
func runMain() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// After the first signal, a second one kills the process the default way
	// instead of waiting for outstanding acknowledgements.
	context.AfterFunc(ctx, stop)

	err := run(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "producer: %v\n", err)
		var uerr usageError
		if errors.As(err, &uerr) {
			fmt.Fprintln(os.Stderr, "run 'go run ./producer -h' for the flags")
		}
	}
	return exitCode(err)
}

// exitCode is 0 for success, 2 for bad flags and 1 for anything else.
func exitCode(err error) int {
	var uerr usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &uerr):
		return 2
	default:
		return 1
	}
}

// usageError is a bad command line; its message names the flag.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// options are the parsed flags.
type options struct {
	configPath string
	count      int
	interval   time.Duration
	file       string
	invalid    float64
	seed       int64

	replay bool // -replay-dlq; the rest apply to it only
	replayOptions
}

// usage is what -h prints above the flags.
const usage = `Usage: go run ./producer [flags]
       go run ./producer -replay-dlq [-dry-run] [-kind K] [-from-start] [-again]

Publishes orders to kafka.topic on kafka.brokers (config file and APP_ env, as the service). A
missing kafka.topic is created first, as the service creates it (kafka.partitions partitions).

With -replay-dlq it republishes instead the messages parked in kafka.dlq_topic, once their cause is
fixed, to kafka.topic: the same key and value bytes, the original headers (those not starting with
"x-"), and x-replay-of: "<dlq topic>/<partition>@<offset>", which the service keeps should the
message be parked again. It reads up to the end of the DLQ as of its start, then stops. So that a
replay never multiplies a failure, it sends a message only when
  - the service's rules take it now (validation.totals and validation.max_future of the same
    settings); the rest is held back and listed with its reason;
  - it is not a conflict, unless -kind conflict asks for them: only the database knows whether
    the stored order was fixed;
  - it was not replayed once already and parked again, unless -again asks for it; even then only
    its newest copy is sent.
Progress is committed, per kind, under the consumer group <kafka.group>-dlq-replay, so a second run
looks only at what was parked since (with -kind, at what is of that kind and was not looked at yet),
and what the first run held back is not looked at again: -from-start looks at all the DLQ holds.
Run one replay at a time.

Flags:
`

// parseFlags reads args. It returns flag.ErrHelp after writing the usage to
// stdout when asked for it, and a usageError naming the flag otherwise.
func parseFlags(args []string, stdout io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("producer", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are returned, usage is printed on -h only
	fs.StringVar(&o.configPath, "config", "config.toml", "config file `path` (a missing file means defaults; APP_ env overrides it)")
	fs.IntVar(&o.count, "count", 0, "how many orders to send; 0 = until stopped (SIGINT/SIGTERM)")
	fs.DurationVar(&o.interval, "interval", 0, "pause between messages; 0 = as fast as the broker takes them")
	fs.StringVar(&o.file, "file", "", "send the orders in this JSON `file` (one object, an array, or one object per line) instead of generated ones")
	fs.Float64Var(&o.invalid, "invalid", 0, "share (0 to 1) of deliberately broken messages")
	fs.Int64Var(&o.seed, "seed", 0, "seed of the order generator (default: from the clock)")
	fs.BoolVar(&o.replay, "replay-dlq", false, "republish the messages parked in kafka.dlq_topic to kafka.topic instead (see above)")
	fs.BoolVar(&o.dryRun, "dry-run", false, "with -replay-dlq: list what would be replayed and a summary by kind; publish and commit nothing")
	fs.StringVar(&o.kind, "kind", "", "with -replay-dlq: replay only messages of this x-error-`kind` (decode, validation or conflict)")
	fs.BoolVar(&o.fromStart, "from-start", false, "with -replay-dlq: ignore what earlier runs replayed and start from the oldest message still in the DLQ")
	fs.BoolVar(&o.again, "again", false, "with -replay-dlq: also send, once more, the messages replayed once already and parked again (the newest copy of each)")
	fs.Usage = func() {
		fmt.Fprint(stdout, usage)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, err
		}
		return o, usageError{err}
	}
	if fs.NArg() > 0 {
		return o, usagef("unexpected argument %q (every option is a -flag)", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return o, o.check(set)
}

// check refuses values out of range and flags that do not go together; set
// names the flags given.
func (o *options) check(set map[string]bool) error {
	switch {
	case o.count < 0:
		return usagef("-count %d: want 0 (until stopped) or more", o.count)
	case o.interval < 0:
		return usagef("-interval %s: want 0 or more", o.interval)
	case math.IsNaN(o.invalid) || o.invalid < 0 || o.invalid > 1:
		return usagef("-invalid %v: want a share from 0 to 1", o.invalid)
	case set["file"] && o.file == "":
		return usagef("-file: want a path")
	case set["kind"] && !slices.Contains(replayKinds, o.kind):
		return usagef("-kind %q: want one of %s", o.kind, strings.Join(replayKinds, ", "))
	}
	if o.replay {
		for _, name := range []string{"count", "interval", "file", "invalid", "seed"} {
			if set[name] {
				return usagef("-replay-dlq cannot be combined with -%s: it republishes what the DLQ holds", name)
			}
		}
		return nil
	}
	for _, name := range []string{"dry-run", "kind", "from-start", "again"} {
		if set[name] {
			return usagef("-%s: only with -replay-dlq", name)
		}
	}
	if o.file != "" {
		for _, name := range []string{"count", "invalid", "seed"} {
			if set[name] {
				return usagef("-file cannot be combined with -%s: the file says what to send", name)
			}
		}
	}
	if !set["seed"] {
		o.seed = time.Now().UnixNano()
	}
	return nil
}

// run is the whole program: parse flags, load the config, build the source
// of messages, publish them and report.
func run(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	opts, err := parseFlags(args, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	cfg, err := config.Load(opts.configPath, environ)
	if err != nil {
		return err
	}
	if opts.replay {
		rules := order.Rules{Totals: cfg.Validation.Totals, MaxFuture: cfg.Validation.MaxFuture}
		return runReplay(ctx, cfg.Kafka, rules, opts.replayOptions, stdout, stderr)
	}

	var src source
	var what string
	if opts.file != "" {
		msgs, err := readOrdersFile(opts.file)
		if err != nil {
			return err
		}
		opts.count = len(msgs)
		src = &sliceSource{msgs: msgs}
		what = fmt.Sprintf("%d orders from %s", len(msgs), opts.file)
	} else {
		src = newGeneratedSource(fake.New(opts.seed), opts.count, opts.invalid, opts.seed)
		n := "orders until stopped"
		if opts.count > 0 {
			n = fmt.Sprintf("%d orders", opts.count)
		}
		what = fmt.Sprintf("%s (seed %d, %g%% deliberately broken)", n, opts.seed, opts.invalid*100)
	}

	if err := ensureTopic(cfg.Kafka, stdout); err != nil {
		return err
	}
	p, err := newProducer(cfg.Kafka.Brokers, security(cfg.Kafka))
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "producing %s to %s on %s (%s)\n", what, cfg.Kafka.Topic, strings.Join(cfg.Kafka.Brokers, ","), security(cfg.Kafka))
	pub := publisher{
		producer:     p,
		topic:        cfg.Kafka.Topic,
		interval:     opts.interval,
		drainTimeout: drainTimeout,
		stdout:       stdout,
		stderr:       stderr,
		total:        int64(opts.count),
		live:         isTerminal(stdout),
	}
	rep := pub.publish(ctx, src)
	fmt.Fprintln(stdout, rep.summary())
	return rep.err()
}

// security is how the settings say to reach the brokers; the service reads
// the same keys.
func security(k config.Kafka) kafka.Security {
	return kafka.Security{
		TLS: k.TLS, CAFile: k.TLSCAFile, CertFile: k.TLSCertFile, KeyFile: k.TLSKeyFile,
		SASLMechanism: k.SASLMechanism, SASLUsername: k.SASLUsername, SASLPassword: k.SASLPassword,
	}
}

// isTerminal reports whether w is a character device, such as a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
