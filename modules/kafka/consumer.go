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
	Security   Security      // TLS and SASL to the brokers
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
	// IngestDelay is how long after its Kafka record's timestamp an order
	// was durably stored.
	IngestDelay(d time.Duration)
}

// Consumer runs the consumer group in the background. It connects with retries,
// so the service starts (and reports not ready) while the broker is down.
type Consumer struct {
	cfg      Config
	log      *slog.Logger
	ingest   Ingester
	observer Observer

	// member is true from a session's Setup to its Cleanup; memberAt is
	// when it last was (unix nanoseconds), so a rebalance's moment between
	// sessions does not count as leaving.
	member   atomic.Bool
	memberAt atomic.Int64
	// brokerAt is when a broker last answered the monitor (unix nanoseconds);
	// brokerErr is why the last check failed.
	brokerAt  atomic.Int64
	brokerErr atomic.Pointer[error]

	partsMu sync.Mutex
	parts   map[int32]*progress // the partitions this member owns

	cancel context.CancelFunc
	done   chan struct{}
}

// NewConsumer returns a consumer that does nothing until Start.
func NewConsumer(cfg Config, log *slog.Logger, ingest Ingester, observer Observer) *Consumer {
	return &Consumer{cfg: cfg, log: log, ingest: ingest, observer: observer, parts: make(map[int32]*progress)}
}

// Start begins connecting and consuming in a goroutine and returns at once.
func (c *Consumer) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	c.done = make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		c.run(ctx)
	}()
	go func() {
		defer wg.Done()
		c.monitor(ctx)
	}()
	go func() {
		wg.Wait()
		close(c.done)
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

// progress is where a partition this member owns stands: next is the offset
// of the first message not yet stored or parked, high the partition's end as
// last seen; -1 while unknown.
type progress struct {
	next, high int64
}

// Lag is the sum over owned partitions of messages not yet stored or parked.
func (c *Consumer) Lag() int64 {
	c.partsMu.Lock()
	defer c.partsMu.Unlock()
	var sum int64
	for _, p := range c.parts {
		if p.next >= 0 && p.high > p.next {
			sum += p.high - p.next
		}
	}
	return sum
}

// own replaces the owned partitions, each with nothing known yet.
func (c *Consumer) own(partitions []int32) {
	c.partsMu.Lock()
	defer c.partsMu.Unlock()
	clear(c.parts)
	for _, p := range partitions {
		c.parts[p] = &progress{next: -1, high: -1}
	}
}

// advance records what is known of a partition's progress: next only moves
// forward from where it stands (or from unknown), high only up.
func (c *Consumer) advance(partition int32, next, high int64) {
	c.partsMu.Lock()
	defer c.partsMu.Unlock()
	p, ok := c.parts[partition]
	if !ok {
		return
	}
	if next >= 0 && (p.next < 0 || next > p.next) {
		p.next = next
	}
	p.high = max(p.high, high)
}

// unknownStart is set when a partition's first message arrives and nothing
// else said where consumption starts.
func (c *Consumer) unknownStart(partition int32, offset int64) {
	c.partsMu.Lock()
	defer c.partsMu.Unlock()
	if p, ok := c.parts[partition]; ok && p.next < 0 {
		p.next = offset
	}
}

// owned lists the owned partitions and whether each has a known next offset.
func (c *Consumer) owned() map[int32]bool {
	c.partsMu.Lock()
	defer c.partsMu.Unlock()
	out := make(map[int32]bool, len(c.parts))
	for id, p := range c.parts {
		out[id] = p.next >= 0
	}
	return out
}

// monitorEvery is how often the consumer asks a broker for the owned
// partitions' ends: lag is never older, and losing every broker shows in
// readiness within brokerGrace of it.
const (
	monitorEvery = 5 * time.Second
	brokerGrace  = 15 * time.Second
	memberGrace  = 30 * time.Second
)

// monitor asks the brokers, every monitorEvery, for the end of each owned
// partition (and its start, when nothing consumed says where it begins). A
// successful answer is what readiness calls a reachable broker.
func (c *Consumer) monitor(ctx context.Context) {
	var client sarama.Client
	defer func() {
		if client != nil {
			_ = client.Close()
		}
	}()
	tick := time.NewTicker(monitorEvery)
	defer tick.Stop()
	for {
		if client == nil {
			cfg, err := c.cfg.Security.SaramaConfig("orders-monitor")
			if err == nil {
				client, err = sarama.NewClient(c.cfg.Brokers, cfg)
			}
			if err != nil {
				c.checked(Explain(cfg, err))
			}
		}
		if client != nil {
			c.checked(c.check(client))
		}
		if c.member.Load() {
			c.memberAt.Store(time.Now().UnixNano())
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// checked records the outcome of a broker check.
func (c *Consumer) checked(err error) {
	if err != nil {
		c.brokerErr.Store(&err)
		c.log.Debug("broker check failed", "err", err)
		return
	}
	c.brokerErr.Store(nil)
	c.brokerAt.Store(time.Now().UnixNano())
}

// check refreshes the topic's metadata and the owned partitions' ends.
func (c *Consumer) check(client sarama.Client) error {
	if err := client.RefreshMetadata(c.cfg.Topic); err != nil {
		return err
	}
	for p, started := range c.owned() {
		high, err := client.GetOffset(c.cfg.Topic, p, sarama.OffsetNewest)
		if err != nil {
			return err
		}
		var next int64 = -1
		if !started {
			// Nothing committed and nothing received: consumption starts
			// at the oldest message the partition still has.
			if next, err = client.GetOffset(c.cfg.Topic, p, sarama.OffsetOldest); err != nil {
				return err
			}
		}
		c.advance(p, next, high)
	}
	return nil
}

// Ready says why the consumer is not fit to take traffic, or nil: a broker
// must have answered within brokerGrace, and the consumer must be a member of
// its group, or have been within memberGrace (a rebalance passes through
// not being one). A member that owns no partition is ready.
func (c *Consumer) Ready() error {
	if at := c.brokerAt.Load(); at == 0 || time.Since(time.Unix(0, at)) > brokerGrace {
		why := "no broker has answered yet"
		if at != 0 {
			why = fmt.Sprintf("no broker has answered for %s", time.Since(time.Unix(0, at)).Round(time.Second))
		}
		if err := c.brokerErr.Load(); err != nil {
			return fmt.Errorf("%s: %w", why, *err)
		}
		return errors.New(why)
	}
	if !c.member.Load() {
		at := c.memberAt.Load()
		if at == 0 {
			return fmt.Errorf("not joined to consumer group %s yet", c.cfg.Group)
		}
		if time.Since(time.Unix(0, at)) > memberGrace {
			return fmt.Errorf("not a member of consumer group %s for %s", c.cfg.Group, time.Since(time.Unix(0, at)).Round(time.Second))
		}
	}
	return nil
}

// run connects, then consumes until ctx ends, reconnecting after failures.
func (c *Consumer) run(ctx context.Context) {
	defer c.member.Store(false)
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
	if err := c.cfg.Security.EnsureServiceTopics(c.cfg.Brokers, c.cfg.Partitions, c.cfg.Topic, c.cfg.DLQTopic); err != nil {
		return err
	}
	dlqCfg, err := c.cfg.Security.SaramaConfig("orders-dlq")
	if err != nil {
		return err
	}
	// One message per request: sarama would otherwise pack parked messages
	// bound for one partition into a record batch of up to
	// Producer.MaxMessageBytes (4 MiB), and the broker refuses a batch over
	// its message.max.bytes (1 MiB by default) whole, as MESSAGE_TOO_LARGE,
	// on every retry, so two large rejects in one batch blocked the partition.
	// Alone, each copy is judged by the broker on its own size.
	dlqCfg.Producer.Flush.MaxMessages = 1
	producer, err := sarama.NewSyncProducer(c.cfg.Brokers, dlqCfg)
	if err != nil {
		return fmt.Errorf("connect DLQ producer: %w", Explain(dlqCfg, err))
	}
	defer producer.Close()
	sc, err := c.cfg.Security.SaramaConfig("orders-service")
	if err != nil {
		return err
	}
	// Each claim's channel holds two batches: the next is ready the moment
	// the last is stored, and sarama's feeder does not stall on a full
	// channel while a batch is in the database (it would wait
	// MaxProcessingTime, then pause the partition's fetches).
	sc.ChannelBufferSize = 2 * c.cfg.BatchSize
	// A partition stays with its member across rebalances where it can, so
	// a member joining or leaving moves only the partitions it must.
	sc.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{sarama.NewBalanceStrategySticky()}
	group, err := sarama.NewConsumerGroup(c.cfg.Brokers, c.cfg.Group, sc)
	if err != nil {
		return fmt.Errorf("join group %s: %w", c.cfg.Group, Explain(sc, err))
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
	h.c.own(s.Claims()[h.c.cfg.Topic])
	h.c.member.Store(true)
	h.c.memberAt.Store(time.Now().UnixNano())
	h.c.log.Info("joined consumer group", "group", h.c.cfg.Group, "member", s.MemberID(), "generation", s.GenerationID(), "claims", s.Claims())
	return nil
}

func (h *handler) Cleanup(sarama.ConsumerGroupSession) error {
	h.c.member.Store(false)
	h.c.memberAt.Store(time.Now().UnixNano())
	h.c.own(nil)
	return nil
}

// ConsumeClaim collects batches of up to BatchSize messages, or whatever came
// within BatchWait of the first, and processes each. When the session ends the
// batch in hand is still processed and marked: release commits marks after
// every claim has returned.
func (h *handler) ConsumeClaim(s sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	cfg := h.c.cfg
	h.c.advance(claim.Partition(), claim.InitialOffset(), claim.HighWaterMarkOffset())
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
			h.c.advance(claim.Partition(), batch[len(batch)-1].Offset+1, claim.HighWaterMarkOffset())
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
				h.c.unknownStart(claim.Partition(), msg.Offset)
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
		stored := time.Now()
		for i, o := range outcomes {
			counts[o]++
			if o == order.Stored && h.c.observer != nil && !good[i].msg.Timestamp.IsZero() {
				h.c.observer.IngestDelay(stored.Sub(good[i].msg.Timestamp))
			}
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

// attemptTimeout bounds one try of a store or publish. A try in flight when
// the session ends (a rebalance, or the service stopping) goes on, so that a
// batch nearly stored is not thrown away, but for at most endGrace more: the
// service must exit within its 9 s stop budget even when the database is
// slow, and a batch abandoned then is simply not marked and is consumed again.
const (
	attemptTimeout = 10 * time.Second
	endGrace       = 5 * time.Second
)

// retry runs f until it succeeds, backing off between tries. It gives up, and
// returns false, only when session is done; a try in flight when the session
// ends gets endGrace to finish.
func (h *handler) retry(session context.Context, what string, f func(context.Context) error) bool {
	attempt := 0
	_, err := backoff.Retry(session, func() (struct{}, error) {
		attempt++
		ctx, cancel := context.WithTimeout(context.WithoutCancel(session), attemptTimeout)
		defer cancel()
		stop := context.AfterFunc(session, func() {
			t := time.AfterFunc(endGrace, cancel)
			context.AfterFunc(ctx, func() { t.Stop() })
		})
		defer stop()
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
