package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"

	"github.com/marketplace/orders/modules/config"
	"github.com/marketplace/orders/modules/order"
)

// Ingester stores a batch of parsed orders durably and says what became of
// each; an error means nothing was stored and the batch may be retried.
type Ingester interface {
	Ingest(ctx context.Context, batch []order.Parsed) ([]order.Outcome, error)
}

// Observer hears what the consumer did; the metrics module implements it.
type Observer interface {
	Ingested(outcome string, n int)
}

// Consumer runs the consumer group in the background. It connects with retries,
// so the service starts (and reports not ready) while the broker is down.
type Consumer struct {
	cfg      config.Kafka
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
func NewConsumer(cfg config.Kafka, log *slog.Logger, ingest Ingester, observer Observer) *Consumer {
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
	b := newBackoff(200*time.Millisecond, 5*time.Second)
	for ctx.Err() == nil {
		err := c.session(ctx)
		if err == nil || ctx.Err() != nil {
			return
		}
		c.log.Warn("kafka consumer failed; retrying", "err", err, "brokers", c.cfg.Brokers, "retry_in", b.peek())
		if !b.wait(ctx) {
			return
		}
	}
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
	group, err := sarama.NewConsumerGroup(c.cfg.Brokers, c.cfg.Group, SaramaConfig("orders-service"))
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
	log := h.c.log
	good := make([]order.Parsed, 0, len(msgs))
	goodMsgs := make([]*sarama.ConsumerMessage, 0, len(msgs))
	var bad []parked
	for _, m := range msgs {
		p, err := order.Parse(m.Value)
		var rej *order.RejectError
		switch {
		case err == nil:
			good = append(good, p)
			goodMsgs = append(goodMsgs, m)
		case errors.As(err, &rej):
			bad = append(bad, parked{msg: m, kind: string(rej.Kind), reason: rej.Reason()})
		default:
			bad = append(bad, parked{msg: m, kind: string(order.KindDecode), reason: err.Error()})
		}
	}
	invalid := len(bad)

	var outcomes []order.Outcome
	if len(good) > 0 {
		ok := retry(s.Context(), log, "store batch", func(ctx context.Context) error {
			var err error
			outcomes, err = h.c.ingest.Ingest(ctx, good)
			return err
		})
		if !ok {
			return false
		}
	}
	counts := map[order.Outcome]int{}
	for i, o := range outcomes {
		counts[o]++
		if o == order.Conflict {
			uid := good[i].Order.OrderUID
			bad = append(bad, parked{msg: goodMsgs[i], kind: string(order.KindConflict),
				reason: fmt.Sprintf("order_uid: a different order is already stored under %q", uid)})
		}
	}
	if len(bad) > 0 {
		pending := bad
		ok := retry(s.Context(), log, "publish to DLQ", func(context.Context) error {
			var err error
			pending, err = publishDLQ(h.dlq, h.c.cfg.DLQTopic, pending)
			return err
		})
		if !ok {
			return false
		}
		for _, p := range bad {
			log.Warn("message parked in DLQ", "topic", p.msg.Topic, "partition", p.msg.Partition, "offset", p.msg.Offset,
				"key", string(p.msg.Key), "kind", p.kind, "reason", p.reason)
		}
	}
	s.MarkMessage(msgs[len(msgs)-1], "")

	if h.c.observer != nil {
		h.c.observer.Ingested("stored", counts[order.Stored])
		h.c.observer.Ingested("duplicate", counts[order.Duplicate])
		h.c.observer.Ingested("conflict", counts[order.Conflict])
		h.c.observer.Ingested("invalid", invalid)
	}
	last := msgs[len(msgs)-1]
	log.Debug("batch processed", "topic", last.Topic, "partition", last.Partition, "offset", last.Offset,
		"messages", len(msgs), "stored", counts[order.Stored], "duplicate", counts[order.Duplicate],
		"conflict", counts[order.Conflict], "invalid", invalid)
	return true
}

// attemptTimeout bounds one try of a store or publish; it is independent of the
// session so a batch in flight at shutdown can still finish.
const attemptTimeout = 10 * time.Second

// retry runs f until it succeeds, backing off between tries. It gives up, and
// returns false, only when session is done; a batch that was in flight when the
// session ended still gets its tries until one fails.
func retry(session context.Context, log *slog.Logger, what string, f func(context.Context) error) bool {
	b := newBackoff(100*time.Millisecond, 5*time.Second)
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(session), attemptTimeout)
		err := f(ctx)
		cancel()
		if err == nil {
			return true
		}
		if session.Err() != nil {
			log.Warn(what+" failed as the session ended; not marked, will be consumed again", "err", err, "attempt", attempt)
			return false
		}
		log.Warn(what+" failed; retrying", "err", err, "attempt", attempt, "retry_in", b.peek())
		if !b.wait(session) {
			return false
		}
	}
}

// backoff is exponential with full jitter, capped.
type backoff struct {
	next, max time.Duration
}

func newBackoff(first, max time.Duration) *backoff { return &backoff{next: first, max: max} }

func (b *backoff) peek() time.Duration { return b.next }

// wait sleeps for the next delay and reports false if ctx ended first.
func (b *backoff) wait(ctx context.Context) bool {
	d := b.next/2 + rand.N(b.next/2+1)
	b.next = min(b.next*2, b.max)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
