package kafka

import (
	"cmp"
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"

	"github.com/marketplace/orders/modules/order"
)

// parkedBodyBytes is how much of a parked message a listing carries: enough
// to see what it was, while a page of 100 stays small.
const parkedBodyBytes = 4 << 10

// Parked lists what is in the DLQ topic, newest first, straight from the
// broker: what an operator sees is what a replay would republish.
type Parked struct {
	brokers  []string
	topic    string
	security Security

	mu     sync.Mutex
	client sarama.Client // connected on first use, kept until Close
}

// NewParked returns a lister of cfg.DLQTopic; it connects on first use.
func NewParked(cfg Config) *Parked {
	return cfg.Security.NewParked(cfg)
}

// NewParked returns a lister of cfg.DLQTopic that connects with s.
func (s Security) NewParked(cfg Config) *Parked {
	return &Parked{brokers: cfg.Brokers, topic: cfg.DLQTopic, security: s}
}

// Close drops the connection, if any.
func (p *Parked) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.client == nil {
		return nil
	}
	err := p.client.Close()
	p.client = nil
	return err
}

func (p *Parked) connect() (sarama.Client, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.client != nil && !p.client.Closed() {
		return p.client, nil
	}
	cfg, err := p.security.SaramaConfig("orders-dlq-view")
	if err != nil {
		return nil, err
	}
	c, err := sarama.NewClient(p.brokers, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to list %s: %w", p.topic, Explain(cfg, err))
	}
	p.client = c
	return c, nil
}

// ListParked returns up to limit parked messages, newest first, continuing
// from cursor ("" for the newest). A cursor is the offset each partition's
// listing has reached; a cursor not given out here is order.ErrBadCursor.
func (p *Parked) ListParked(ctx context.Context, limit int, cursor string) (order.ParkedPage, error) {
	ends, err := decodeCursor(cursor)
	if err != nil {
		return order.ParkedPage{}, err
	}
	client, err := p.connect()
	if err != nil {
		return order.ParkedPage{}, err
	}
	parts, err := client.Partitions(p.topic)
	if err != nil {
		return order.ParkedPage{}, fmt.Errorf("partitions of %s: %w", p.topic, err)
	}
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return order.ParkedPage{}, fmt.Errorf("read %s: %w", p.topic, err)
	}
	defer consumer.Close()

	// The newest limit messages overall are among the newest limit of each
	// partition below its end.
	byPart := map[int32][]*sarama.ConsumerMessage{}
	firsts := map[int32]int64{}
	for _, part := range parts {
		first, err := client.GetOffset(p.topic, part, sarama.OffsetOldest)
		if err != nil {
			return order.ParkedPage{}, fmt.Errorf("oldest offset of %s/%d: %w", p.topic, part, err)
		}
		firsts[part] = first
		end, ok := ends[part]
		if !ok {
			if end, err = client.GetOffset(p.topic, part, sarama.OffsetNewest); err != nil {
				return order.ParkedPage{}, fmt.Errorf("newest offset of %s/%d: %w", p.topic, part, err)
			}
			ends[part] = end
		}
		from := max(first, end-int64(limit))
		msgs, err := readRange(ctx, consumer, p.topic, part, from, end)
		if err != nil {
			return order.ParkedPage{}, err
		}
		byPart[part] = msgs
	}

	// Merge newest first, taking each partition from its end so that what a
	// page leaves of a partition is always below the cursor.
	page := order.ParkedPage{Items: make([]order.Parked, 0, limit)}
	for len(page.Items) < limit {
		var next *sarama.ConsumerMessage
		for _, msgs := range byPart {
			if len(msgs) == 0 {
				continue
			}
			m := msgs[len(msgs)-1]
			if next == nil || cmp.Or(m.Timestamp.Compare(next.Timestamp), cmp.Compare(m.Partition, next.Partition)) > 0 {
				next = m
			}
		}
		if next == nil {
			break
		}
		byPart[next.Partition] = byPart[next.Partition][:len(byPart[next.Partition])-1]
		page.Items = append(page.Items, parkedOf(next))
		ends[next.Partition] = next.Offset
	}
	for part, end := range ends {
		if end > firsts[part] {
			page.Next = encodeCursor(ends)
			break
		}
	}
	return page, nil
}

// readRange reads the messages of one partition with offsets in [from, end).
func readRange(ctx context.Context, consumer sarama.Consumer, topic string, part int32, from, end int64) ([]*sarama.ConsumerMessage, error) {
	if from >= end {
		return nil, nil
	}
	pc, err := consumer.ConsumePartition(topic, part, from)
	if err != nil {
		return nil, fmt.Errorf("read %s/%d from %d: %w", topic, part, from, err)
	}
	defer pc.AsyncClose()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var out []*sarama.ConsumerMessage
	for {
		select {
		case m := <-pc.Messages():
			if m.Offset >= end {
				return out, nil
			}
			out = append(out, m)
			if m.Offset == end-1 {
				return out, nil
			}
		case err := <-pc.Errors():
			return nil, fmt.Errorf("read %s/%d: %w", topic, part, err)
		case <-ctx.Done():
			// Offsets can have gaps (transaction markers, compaction): what
			// came is all there is.
			return out, nil
		}
	}
}

func parkedOf(m *sarama.ConsumerMessage) order.Parked {
	header := func(name string) string {
		for _, h := range m.Headers {
			if h != nil && string(h.Key) == name {
				return string(h.Value)
			}
		}
		return ""
	}
	partition, _ := strconv.ParseInt(header(HeaderSourcePartition), 10, 32)
	offset, _ := strconv.ParseInt(header(HeaderSourceOffset), 10, 64)
	return order.Parked{
		Kind:      order.Kind(header(HeaderErrorKind)),
		Reason:    header(HeaderError),
		Topic:     header(HeaderSourceTopic),
		Partition: int32(partition),
		Offset:    offset,
		Time:      m.Timestamp,
		Key:       m.Key,
		Body:      m.Value[:min(len(m.Value), parkedBodyBytes)],
		Size:      len(m.Value),
	}
}

// A cursor is base64url of "partition:end,..." where end is the first offset
// not yet to list.
func encodeCursor(ends map[int32]int64) string {
	parts := slices.Sorted(func(yield func(int32) bool) {
		for p := range ends {
			if !yield(p) {
				return
			}
		}
	})
	var b strings.Builder
	for i, p := range parts {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%d:%d", p, ends[p])
	}
	return base64.RawURLEncoding.EncodeToString([]byte(b.String()))
}

func decodeCursor(s string) (map[int32]int64, error) {
	ends := map[int32]int64{}
	if s == "" {
		return ends, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(raw) == 0 {
		return nil, order.ErrBadCursor
	}
	for _, kv := range strings.Split(string(raw), ",") {
		k, v, ok := strings.Cut(kv, ":")
		part, perr := strconv.ParseInt(k, 10, 32)
		end, eerr := strconv.ParseInt(v, 10, 64)
		if !ok || perr != nil || eerr != nil || part < 0 || end < 0 {
			return nil, order.ErrBadCursor
		}
		ends[int32(part)] = end
	}
	return ends, nil
}
