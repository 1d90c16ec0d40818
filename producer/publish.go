package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"

	"github.com/marketplace/orders/modules/kafka"
)

const (
	// progressEvery is how often a progress line is printed.
	progressEvery = time.Second
	// drainTimeout bounds the wait for outstanding messages once sending
	// stops. With the broker gone sarama fails them one backoff at a time, a
	// few a second, which would otherwise keep the program alive for minutes.
	drainTimeout = 10 * time.Second
	// maxShownFailures is how many failed messages are listed one by one.
	maxShownFailures = 5
)

// saramaConfig is the producer's client configuration: the project's shared
// one (every message acknowledged by all in-sync replicas, TLS and SASL as
// the settings say), made idempotent, so a retry after a lost
// acknowledgement does not write the message twice.
func saramaConfig(sec kafka.Security) (*sarama.Config, error) {
	cfg, err := sec.SaramaConfig("orders-producer")
	if err != nil {
		return nil, err
	}
	cfg.Producer.Idempotent = true
	cfg.Net.MaxOpenRequests = 1 // required by the idempotent producer
	// Not the shared 4 MiB: sarama fills a partition's batch up to this limit,
	// and the orders topic takes the broker's default of 1,048,588 bytes per
	// batch, so a full 4 MiB batch would be refused as too large. sarama's own
	// 1,000,000 stays below it.
	cfg.Producer.MaxMessageBytes = sarama.NewConfig().Producer.MaxMessageBytes
	return cfg, nil
}

func newProducer(brokers []string, sec kafka.Security) (sarama.AsyncProducer, error) {
	cfg, err := saramaConfig(sec)
	if err != nil {
		return nil, err
	}
	p, err := sarama.NewAsyncProducer(brokers, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to kafka at %s: %w", strings.Join(brokers, ","), kafka.Explain(cfg, err))
	}
	return p, nil
}

// publisher sends messages to one topic through an AsyncProducer it owns.
type publisher struct {
	producer     sarama.AsyncProducer
	topic        string
	interval     time.Duration // between messages; 0 = no pause
	drainTimeout time.Duration
	stdout       io.Writer // progress lines
	stderr       io.Writer // the first failures
	total        int64     // messages to send, for the ETA; 0 = unknown
	live         bool      // stdout is a terminal: one progress line rewritten in place
}

// progress is one progress line: counts, rate, the ETA when the total is
// known, and an order the broker has taken, to look up in the service.
func (pub publisher) progress(sent, acked, failed int64, rate float64, try string) string {
	line := fmt.Sprintf("sent %d, acked %d, failed %d, %.0f/s", sent, acked, failed, rate)
	if pub.total > 0 && rate > 0 {
		eta := time.Duration(float64(pub.total-acked-failed) / rate * float64(time.Second))
		line += fmt.Sprintf(", ETA %s", eta.Round(time.Second))
	}
	if try != "" {
		line += ", try order_uid " + try
	}
	if pub.live {
		// Back to the line's start and clear it: the line updates in place.
		return "\r\x1b[K" + line
	}
	return line + "\n"
}

// report is what happened to the messages of one publish.
type report struct {
	sent, acked, failed int64
	broken              int64 // sent deliberately broken
	firstErr            error
	stoppedOnFailure    bool // sending stopped at the first failure
	gaveUp              bool // outstanding messages were not waited for past drainTimeout
	drainTimeout        time.Duration
	elapsed             time.Duration
}

func (r report) summary() string {
	rate := 0.0
	if secs := r.elapsed.Seconds(); secs > 0 {
		rate = float64(r.acked) / secs
	}
	s := fmt.Sprintf("done in %s: sent %d, acked %d, failed %d, %.0f/s",
		r.elapsed.Round(time.Millisecond), r.sent, r.acked, r.failed, rate)
	if r.broken > 0 {
		s += fmt.Sprintf(" (%d sent deliberately broken)", r.broken)
	}
	if r.stoppedOnFailure {
		s += "; stopped sending at the first failure"
	}
	if r.gaveUp {
		s += fmt.Sprintf("; gave up waiting for %d outstanding after %s", r.sent-r.acked-r.failed, r.drainTimeout)
	}
	return s
}

// err is nil only when the broker acknowledged every message sent.
func (r report) err() error {
	unacked := r.sent - r.acked - r.failed
	switch {
	case r.failed > 0 && unacked > 0:
		return fmt.Errorf("%d of %d messages failed (the first: %w) and %d were not acknowledged within %s",
			r.failed, r.sent, r.firstErr, unacked, r.drainTimeout)
	case r.failed > 0:
		return fmt.Errorf("%d of %d messages failed, the first: %w", r.failed, r.sent, r.firstErr)
	case unacked > 0:
		return fmt.Errorf("%d of %d messages were not acknowledged within %s", unacked, r.sent, r.drainTimeout)
	default:
		return nil
	}
}

// counters are shared by the sending loop and the collector.
type counters struct {
	sent, acked, failed atomic.Int64
}

// publish sends the messages of src until src runs out, ctx ends or a message
// fails, then closes the producer and waits (up to drainTimeout) for the
// outcome of every message sent. It prints a progress line about once a
// second; both writers are free again when it returns.
func (pub publisher) publish(ctx context.Context, src source) report {
	start := time.Now()
	var c counters
	failing := make(chan struct{}) // closed by the collector at the first failure
	quit := make(chan struct{})    // closed to stop the collector early
	collected := make(chan error)
	go func() { collected <- pub.collect(&c, start, failing, quit) }()

	broken, stoppedOnFailure := pub.sendAll(ctx, src, &c, failing)

	// AsyncClose flushes what was sent, then closes Successes and Errors,
	// which ends the collector.
	pub.producer.AsyncClose()
	timeout := time.NewTimer(pub.drainTimeout)
	defer timeout.Stop()
	gaveUp := false
	var firstErr error
	select {
	case firstErr = <-collected:
	case <-timeout.C:
		gaveUp = true
		close(quit)
		firstErr = <-collected
	}
	return report{
		sent:             c.sent.Load(),
		acked:            c.acked.Load(),
		failed:           c.failed.Load(),
		broken:           broken,
		firstErr:         firstErr,
		stoppedOnFailure: stoppedOnFailure,
		gaveUp:           gaveUp,
		drainTimeout:     pub.drainTimeout,
		elapsed:          time.Since(start),
	}
}

// sendAll hands the messages of src to the producer, one each interval,
// until src runs out, ctx ends or failing is closed (stoppedOnFailure); it
// returns how many of those sent were deliberately broken.
func (pub publisher) sendAll(ctx context.Context, src source, c *counters, failing <-chan struct{}) (broken int64, stoppedOnFailure bool) {
	var tick <-chan time.Time
	if pub.interval > 0 {
		t := time.NewTicker(pub.interval)
		defer t.Stop()
		tick = t.C
	}
	for n := 0; ; n++ {
		if n > 0 && tick != nil {
			select {
			case <-ctx.Done():
				return broken, false
			case <-failing:
				return broken, true
			case <-tick:
			}
		}
		select {
		case <-ctx.Done():
			return broken, false
		case <-failing:
			// Everything from here on would fail too, or succeed only to
			// exit 1 anyway.
			return broken, true
		default:
		}
		m, ok := src.next()
		if !ok {
			return broken, false
		}
		pm := &sarama.ProducerMessage{Topic: pub.topic, Value: sarama.ByteEncoder(m.value)}
		if m.key != "" {
			pm.Key = sarama.StringEncoder(m.key)
		}
		c.sent.Add(1) // before the hand-over, so acked never runs ahead of sent
		select {
		case pub.producer.Input() <- pm:
			if m.broken {
				broken++
			}
		case <-ctx.Done():
			c.sent.Add(-1)
			return broken, false
		case <-failing:
			c.sent.Add(-1)
			return broken, true
		}
	}
}

// collect counts acknowledgements and failures until the producer closes
// both channels or quit is closed, printing progress meanwhile. It closes
// failing at the first failure and returns that failure.
func (pub publisher) collect(c *counters, start time.Time, failing chan<- struct{}, quit <-chan struct{}) error {
	ticker := time.NewTicker(progressEvery)
	defer ticker.Stop()
	successes, errs := pub.producer.Successes(), pub.producer.Errors()
	var firstErr error
	var lastOK *sarama.ProducerMessage // an acknowledged message, read only at a tick
	lastAcked, lastTime := int64(0), start
	if pub.live {
		defer fmt.Fprintln(pub.stdout) // end the line rewritten in place
	}
	for successes != nil || errs != nil {
		select {
		case m, ok := <-successes:
			if !ok {
				successes = nil
				continue
			}
			c.acked.Add(1)
			lastOK = m
		case perr, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			n := c.failed.Add(1)
			if firstErr == nil {
				firstErr = perr.Err
				close(failing)
			}
			switch {
			case n <= maxShownFailures:
				fmt.Fprintf(pub.stderr, "failed: key %s: %v\n", keyOf(perr.Msg), perr.Err)
			case n == maxShownFailures+1:
				fmt.Fprintln(pub.stderr, "failed: more messages; only the count is shown from here on")
			}
		case now := <-ticker.C:
			acked := c.acked.Load()
			rate := float64(acked-lastAcked) / now.Sub(lastTime).Seconds()
			try := ""
			if lastOK != nil && lastOK.Key != nil {
				try = keyOf(lastOK)
			}
			fmt.Fprint(pub.stdout, pub.progress(c.sent.Load(), acked, c.failed.Load(), rate, try))
			lastAcked, lastTime = acked, now
		case <-quit:
			// The producer's goroutines are left blocked; the process is
			// about to exit.
			return firstErr
		}
	}
	return firstErr
}

func keyOf(m *sarama.ProducerMessage) string {
	if m == nil || m.Key == nil {
		return "(none)"
	}
	b, err := m.Key.Encode()
	if err != nil {
		return "(unreadable)"
	}
	return string(b)
}
