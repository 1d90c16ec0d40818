package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"github.com/cenkalti/backoff/v5"

	"github.com/marketplace/orders/modules/order"
)

// Config is what the consumer needs to know; app fills it from the service's
// settings.
type Config struct {
	Brokers    []string
	Topic      string
	Group      string
	DLQTopic   string
	Partitions int32         // used when the consumer creates a missing topic
	BatchSize  int           // most messages stored in one transaction
	BatchWait  time.Duration // longest a partial batch waits for more
	Rules      order.Rules   // how messages are validated
}

// Ingester stores a batch of parsed orders durably and says what became of
// each; an error means nothing was stored and the batch may be retried.
type Ingester interface {
	Ingest(ctx context.Context, batch []order.Parsed) ([]order.Outcome, error)
}

// Observer hears what the consumer did with each message; app turns it into
// metrics.
type Observer interface {
	Ingested(outcome order.Outcome, n int)
}

// Consumer runs the consumer group in the background. It connects with retries,
// so the service starts (and reports not ready) while the broker is down.
type Consumer struct {
	cfg      Config
	log      *slog.Logger
	ingest   Ingester
	observer Observer

	joined atomic.Bool
	lagMu  sync.Mutex
	lag    map[int32]int64

	cancel context.CancelFunc
	done   chan struct{}
}

// NewConsumer returns a consumer that does nothing until Start.
func NewConsumer(cfg Config, log *slog.Logger, ingest Ingester, observer Observer) *Consumer {
	return &Consumer{cfg: cfg, log: log, ingest: ingest, observer: observer, lag: make(map[int32]int64)}
}

// Start begins connecting and consuming in a goroutine and returns at once.
func (c *Consumer) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	c.done = make(chan struct{})
	go func() {
		defer close(c.done)
		c.run(ctx)
	}()
}

// Stop stops fetching, lets the batch in flight finish and its offsets commit,
// then leaves the group. It returns early if ctx ends first.
func (c *Consumer) Stop(ctx context.Context) error {
	if c.cancel == nil {
		return nil
	}
	c.cancel()
	select {
	case <-c.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stop consumer: %w", ctx.Err())
	}
}

// Joined reports whether the consumer is a member of its group.
func (c *Consumer) Joined() bool { return c.joined.Load() }

// Lag is the sum over owned partitions of messages not yet processed.
func (c *Consumer) Lag() int64 {
	c.lagMu.Lock()
	defer c.lagMu.Unlock()
	var sum int64
	for _, l := range c.lag {
		sum += l
	}
	return sum
}

func (c *Consumer) setLag(partition int32, lag int64) {
	if lag < 0 {
		lag = 0
	}
	c.lagMu.Lock()
	c.lag[partition] = lag
	c.lagMu.Unlock()
}

func (c *Consumer) clearLag() {
	c.lagMu.Lock()
	clear(c.lag)
	c.lagMu.Unlock()
}

// run connects, then consumes until ctx ends, reconnecting after failures.
func (c *Consumer) run(ctx context.Context) {
	defer c.joined.Store(false)
	_, _ = backoff.Retry(ctx, func() (struct{}, error) {
		return struct{}{}, c.session(ctx)
	}, retryForever(200*time.Millisecond, func(err error, wait time.Duration) {
		c.log.Warn("kafka consumer failed; retrying", "err", err, "brokers", c.cfg.Brokers, "retry_in", wait)
	})...)
}

// retryForever backs off exponentially from first up to 5 s, with jitter,
// telling notify each wait it is about to take. It never gives up: only the
// context ends the retry.
func retryForever(first time.Duration, notify backoff.Notify) []backoff.RetryOption {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = first
	b.MaxInterval = 5 * time.Second
	return []backoff.RetryOption{backoff.WithBackOff(b), backoff.WithMaxElapsedTime(0), backoff.WithNotify(notify)}
}

// session is one connection's life: topics, DLQ publisher, group, consume loop.
func (c *Consumer) session(ctx context.Context) error {
	if err := EnsureServiceTopics(c.cfg.Brokers, c.cfg.Partitions, c.cfg.Topic, c.cfg.DLQTopic); err != nil {
		return err
	}
	dlqCfg := SaramaConfig("orders-dlq")
	// One message per request: sarama would otherwise pack parked messages
	// bound for one partition into a record batch of up to
	// Producer.MaxMessageBytes (4 MiB), and the broker refuses a batch over
	// its message.max.bytes (1 MiB by default) whole, as MESSAGE_TOO_LARGE,
	// on every retry, so two large rejects in one batch blocked the partition.
	// Alone, each copy is judged by the broker on its own size.
	dlqCfg.Producer.Flush.MaxMessages = 1
	producer, err := sarama.NewSyncProducer(c.cfg.Brokers, dlqCfg)
	if err != nil {
		return fmt.Errorf("connect DLQ producer: %w", err)
	}
	defer producer.Close()
	sc := SaramaConfig("orders-service")
	// Each claim's channel holds two batches: the next is ready the moment
	// the last is stored, and sarama's feeder does not stall on a full
	// channel while a batch is in the database (it would wait
	// MaxProcessingTime, then pause the partition's fetches).
	sc.ChannelBufferSize = 2 * c.cfg.BatchSize
	group, err := sarama.NewConsumerGroup(c.cfg.Brokers, c.cfg.Group, sc)
	if err != nil {
		return fmt.Errorf("join group %s: %w", c.cfg.Group, err)
	}
	defer group.Close()

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for err := range group.Errors() {
			c.log.Warn("kafka consumer error", "err", err)
		}
	}()
	defer wg.Wait()
	defer group.Close() // closes Errors() so the drain above ends; the second Close is a no-op

	h := &handler{c: c, dlq: producer}
	for {
		// Consume returns at each rebalance; the loop joins the next generation.
		if err := group.Consume(ctx, []string{c.cfg.Topic}, h); err != nil {
			if errors.Is(err, sarama.ErrClosedConsumerGroup) || ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("consume %s: %w", c.cfg.Topic, err)
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

type handler struct {
	c   *Consumer
	dlq sarama.SyncProducer
}

func (h *handler) Setup(s sarama.ConsumerGroupSession) error {
	h.c.joined.Store(true)
	h.c.clearLag()
	h.c.log.Info("joined consumer group", "group", h.c.cfg.Group, "member", s.MemberID(), "generation", s.GenerationID(), "claims", s.Claims())
	return nil
}

func (h *handler) Cleanup(sarama.ConsumerGroupSession) error { return nil }

// ConsumeClaim collects batches of up to BatchSize messages, or whatever came
// within BatchWait of the first, and processes each. When the session ends the
// batch in hand is still processed and marked: release commits marks after
// every claim has returned.
func (h *handler) ConsumeClaim(s sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	cfg := h.c.cfg
	if off := claim.InitialOffset(); off >= 0 {
		h.c.setLag(claim.Partition(), claim.HighWaterMarkOffset()-off)
	}
	batch := make([]*sarama.ConsumerMessage, 0, cfg.BatchSize)
	timer := time.NewTimer(cfg.BatchWait)
	timer.Stop()
	defer timer.Stop()
	flush := func() bool {
		if len(batch) == 0 {
			return true
		}
		ok := h.process(s, batch)
		if ok {
			last := batch[len(batch)-1]
			h.c.setLag(claim.Partition(), claim.HighWaterMarkOffset()-last.Offset-1)
		}
		batch = batch[:0]
		return ok
	}
	for {
		select {
		case msg, ok := <-claim.Messages():
			if !ok {
				flush()
				return nil
			}
			batch = append(batch, msg)
			if len(batch) == 1 {
				timer.Reset(cfg.BatchWait)
			}
			if len(batch) >= cfg.BatchSize {
				timer.Stop()
				if !flush() {
					return nil
				}
			}
		case <-timer.C:
			if !flush() {
				return nil
			}
		case <-s.Context().Done():
			flush()
			return nil
		}
	}
}

// process stores the good orders and parks the bad ones, retrying failures that
// may pass, then marks the batch. It returns false, with nothing marked, only
// when the session ended while a failure was still being retried: the
// messages are then consumed again by whoever owns the partition next.
func (h *handler) process(s sarama.ConsumerGroupSession, msgs []*sarama.ConsumerMessage) bool {
	good, bad := h.parse(msgs)
	counts := map[order.Outcome]int{order.Invalid: len(bad)}
	if len(good) > 0 {
		outcomes, ok := h.store(s.Context(), good)
		if !ok {
			return false
		}
		for i, o := range outcomes {
			counts[o]++
			if o == order.Conflict {
				bad = append(bad, parked{msg: good[i].msg, kind: string(order.KindConflict),
					reason: fmt.Sprintf("order_uid: a different order is already stored under %q", good[i].Order.OrderUID)})
			}
		}
	}
	if len(bad) > 0 && !h.park(s.Context(), bad) {
		return false
	}
	s.MarkMessage(msgs[len(msgs)-1], "")
	h.report(msgs[len(msgs)-1], len(msgs), counts)
	return true
}

// received is a parsed order and the message it came in.
type received struct {
	order.Parsed
	msg *sarama.ConsumerMessage
}

// parse splits a batch into orders to store and messages to park.
func (h *handler) parse(msgs []*sarama.ConsumerMessage) ([]received, []parked) {
	good := make([]received, 0, len(msgs))
	var bad []parked
	for _, m := range msgs {
		p, err := h.c.cfg.Rules.Parse(m.Value)
		var rej *order.RejectError
		switch {
		case err == nil:
			good = append(good, received{Parsed: p, msg: m})
		case errors.As(err, &rej):
			bad = append(bad, parked{msg: m, kind: string(rej.Kind), reason: rej.Reason()})
		default:
			bad = append(bad, parked{msg: m, kind: string(order.KindDecode), reason: err.Error()})
		}
	}
	return good, bad
}

// store ingests the orders, retrying until it succeeds or the session ends.
func (h *handler) store(session context.Context, good []received) ([]order.Outcome, bool) {
	batch := make([]order.Parsed, len(good))
	for i, r := range good {
		batch[i] = r.Parsed
	}
	var outcomes []order.Outcome
	ok := h.retry(session, "store batch", func(ctx context.Context) error {
		var err error
		outcomes, err = h.c.ingest.Ingest(ctx, batch)
		return err
	})
	return outcomes, ok
}

// park copies the messages to the DLQ, retrying only the copies not yet
// acknowledged, until all are or the session ends.
func (h *handler) park(session context.Context, bad []parked) bool {
	pending := bad
	ok := h.retry(session, "publish to DLQ", func(context.Context) error {
		var err error
		pending, err = publishDLQ(h.dlq, h.c.cfg.DLQTopic, pending)
		return err
	})
	if !ok {
		return false
	}
	for _, p := range bad {
		h.c.log.Warn("message parked in DLQ", "topic", p.msg.Topic, "partition", p.msg.Partition, "offset", p.msg.Offset,
			"key", string(p.msg.Key), "kind", p.kind, "reason", p.reason)
	}
	return true
}

// report tells the observer and the debug log what a batch came to.
func (h *handler) report(last *sarama.ConsumerMessage, n int, counts map[order.Outcome]int) {
	if h.c.observer != nil {
		for _, o := range order.Outcomes {
			h.c.observer.Ingested(o, counts[o])
		}
	}
	h.c.log.Debug("batch processed", "topic", last.Topic, "partition", last.Partition, "offset", last.Offset,
		"messages", n, "stored", counts[order.Stored], "duplicate", counts[order.Duplicate],
		"conflict", counts[order.Conflict], "invalid", counts[order.Invalid])
}

// attemptTimeout bounds one try of a store or publish; it is independent of the
// session so a batch in flight at shutdown can still finish.
const attemptTimeout = 10 * time.Second

// retry runs f until it succeeds, backing off between tries. It gives up, and
// returns false, only when session is done; a batch that was in flight when the
// session ended still gets its tries until one fails.
func (h *handler) retry(session context.Context, what string, f func(context.Context) error) bool {
	attempt := 0
	_, err := backoff.Retry(session, func() (struct{}, error) {
		attempt++
		ctx, cancel := context.WithTimeout(context.WithoutCancel(session), attemptTimeout)
		defer cancel()
		return struct{}{}, f(ctx)
	}, retryForever(100*time.Millisecond, func(err error, wait time.Duration) {
		h.c.log.Warn(what+" failed; retrying", "err", err, "attempt", attempt, "retry_in", wait)
	})...)
	if err != nil {
		h.c.log.Warn(what+" failed as the session ended; not marked, will be consumed again", "err", err, "attempt", attempt)
		return false
	}
	return true
}
