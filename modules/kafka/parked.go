package kafka

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"

	"github.com/marketplace/orders/modules/order"
)

// What a listing keeps of each parked message: enough to see what it was,
// while a page of 100 stays well under a megabyte.
const (
	parkedBodyBytes   = 4 << 10
	parkedKeyBytes    = 1 << 10
	parkedReasonBytes = 4 << 10
)

// headerReplayedFrom is what replays wrote before HeaderReplayOf:
// "<topic>/<partition>/<offset>".
const headerReplayedFrom = "x-replayed-from"

// parkedReadTimeout bounds one listing when the caller's context does not.
const parkedReadTimeout = 10 * time.Second

// maxIndexed is how many offsets of one partition the kind index covers:
// one byte each. A DLQ deeper than that is counted and filtered over its
// newest maxIndexed messages per partition.
const maxIndexed = 8 << 20

// Parked lists what is in the DLQ topic, newest first, straight from the
// broker: what an operator sees is what a replay would republish.
//
// It keeps the kind of every parked message in memory (a byte per offset),
// read once and then only what is new, so that a listing can count the
// kinds and filter by one without reading the whole topic each time.
type Parked struct {
	brokers  []string
	topic    string
	security Security

	mu     sync.Mutex
	client sarama.Client // connected on first use, kept until Close

	// scan is held by the one listing that reads the topic into index;
	// a channel, so that a listing waiting for it can give up.
	scan  chan struct{}
	index map[int32]*kindIndex
}

// NewParked returns a lister of cfg.DLQTopic; it connects on first use.
func NewParked(cfg Config) *Parked {
	return cfg.Security.NewParked(cfg)
}

// NewParked returns a lister of cfg.DLQTopic that connects with s.
func (s Security) NewParked(cfg Config) *Parked {
	return &Parked{
		brokers: cfg.Brokers, topic: cfg.DLQTopic, security: s,
		scan: make(chan struct{}, 1), index: map[int32]*kindIndex{},
	}
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
	// A listing waits for the broker no longer than a person would; and a
	// few parked messages of a megabyte each in flight, not hundreds.
	cfg.Net.ReadTimeout = 5 * time.Second
	cfg.ChannelBufferSize = 8
	cfg.Consumer.Fetch.Default = 1 << 20
	// A listing reads up to an offset it knows is there, then stops; the
	// fetch sarama sends past it would hold the connection, which the next
	// read shares, for the broker's whole wait.
	cfg.Consumer.MaxWaitTime = 10 * time.Millisecond
	c, err := sarama.NewClient(p.brokers, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to list %s: %w", p.topic, Explain(cfg, err))
	}
	p.client = c
	return c, nil
}

// ListParked returns up to limit parked messages of every kind, newest
// first, continuing from cursor; see ListParkedKind.
func (p *Parked) ListParked(ctx context.Context, limit int, cursor string) (order.ParkedPage, error) {
	return p.ListParkedKind(ctx, "", limit, cursor)
}

// ListParkedKind returns up to limit parked messages of the given kind
// (every kind when empty), newest first, continuing from cursor ("" for the
// newest), with the count of each kind in the whole topic. A cursor not
// given out here, or past the end of the topic, is order.ErrBadCursor.
//
// A page is never silently short: when the broker does not answer in time
// the error wraps the context's, and a page is only cut by limit, with a
// cursor to the rest. The DLQ is written by the service's own producer,
// neither transactional nor compacted, so every offset below the newest is
// a message; a gap would make the read wait out its deadline and fail, not
// come back with less.
func (p *Parked) ListParkedKind(ctx context.Context, kind order.Kind, limit int, cursor string) (order.ParkedPage, error) {
	want := codeNone
	if kind != "" {
		var ok bool
		if want, ok = codeOf(kind); !ok {
			return order.ParkedPage{}, fmt.Errorf("list %s: unknown kind %q", p.topic, kind)
		}
	}
	ends, err := decodeCursor(cursor)
	if err != nil {
		return order.ParkedPage{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, parkedReadTimeout)
	defer cancel()
	client, err := p.connect()
	if err != nil {
		return order.ParkedPage{}, err
	}
	plan, err := p.plan(ctx, client, want, limit, ends)
	if err != nil {
		return order.ParkedPage{}, err
	}

	// The newest limit messages are among the newest limit candidates of
	// each partition below its end.
	var mu sync.Mutex
	byPart := map[int32][]parkedAt{}
	err = eachPartition(slices.Collect(maps.Keys(plan.candidates)), func(part int32) error {
		msgs, err := readOffsets(ctx, client, p.topic, part, plan.candidates[part])
		mu.Lock()
		defer mu.Unlock()
		byPart[part] = msgs
		return err
	})
	if err != nil {
		return order.ParkedPage{}, err
	}

	// Merge newest first, taking each partition from its end so that what a
	// page leaves of a partition is always below the cursor.
	page := order.ParkedPage{Items: make([]order.Parked, 0, limit), Counts: plan.counts}
	for len(page.Items) < limit {
		var next *parkedAt
		for _, msgs := range byPart {
			if len(msgs) == 0 {
				continue
			}
			m := &msgs[len(msgs)-1]
			if next == nil || cmp.Or(m.Time.Compare(next.Time), cmp.Compare(m.part, next.part)) > 0 {
				next = m
			}
		}
		if next == nil {
			break
		}
		byPart[next.part] = byPart[next.part][:len(byPart[next.part])-1]
		page.Items = append(page.Items, next.Parked)
		plan.ends[next.part] = next.off
	}
	for part, left := range byPart {
		if len(left) > 0 || plan.beyond[part] {
			page.Next = encodeCursor(plan.ends)
			break
		}
	}
	return page, nil
}

// parkedAt is a parked message with its place in the DLQ.
type parkedAt struct {
	order.Parked
	part int32
	off  int64
}

// listingPlan is what the index says a listing should read.
type listingPlan struct {
	ends       map[int32]int64   // per partition, the first offset not to list
	candidates map[int32][]int64 // per partition, ascending offsets to read
	beyond     map[int32]bool    // per partition, more of the kind below the candidates
	counts     map[order.Kind]int
}

// plan brings the index up to the topic's end and picks, per partition, the
// newest limit offsets of the wanted kind below the cursor's ends.
func (p *Parked) plan(ctx context.Context, client sarama.Client, want kindCode, limit int, ends map[int32]int64) (listingPlan, error) {
	select {
	case p.scan <- struct{}{}:
	case <-ctx.Done():
		return listingPlan{}, fmt.Errorf("wait to read %s: %w", p.topic, ctx.Err())
	}
	defer func() { <-p.scan }()

	parts, err := client.Partitions(p.topic)
	if err != nil {
		return listingPlan{}, fmt.Errorf("partitions of %s: %w", p.topic, err)
	}
	for part := range ends {
		if !slices.Contains(parts, part) {
			return listingPlan{}, fmt.Errorf("%w: partition %d of %s does not exist", order.ErrBadCursor, part, p.topic)
		}
	}
	plan := listingPlan{ends: ends, candidates: map[int32][]int64{}, beyond: map[int32]bool{}, counts: map[order.Kind]int{}}
	newest := map[int32]int64{}
	for _, part := range parts {
		first, err := client.GetOffset(p.topic, part, sarama.OffsetOldest)
		if err != nil {
			return listingPlan{}, fmt.Errorf("oldest offset of %s/%d: %w", p.topic, part, err)
		}
		last, err := client.GetOffset(p.topic, part, sarama.OffsetNewest)
		if err != nil {
			return listingPlan{}, fmt.Errorf("newest offset of %s/%d: %w", p.topic, part, err)
		}
		end, ok := ends[part]
		switch {
		case !ok:
			ends[part] = last
		case end > last:
			return listingPlan{}, fmt.Errorf("%w: offset %d is past the end of %s/%d (%d)", order.ErrBadCursor, end, p.topic, part, last)
		}
		x := p.index[part]
		if x == nil || last < x.next() { // new, or the topic was made again
			x = &kindIndex{base: first}
			p.index[part] = x
		}
		x.dropBelow(max(first, last-maxIndexed))
		newest[part] = last
	}
	err = eachPartition(parts, func(part int32) error {
		return p.readKinds(ctx, client, part, p.index[part], newest[part])
	})
	if err != nil {
		return listingPlan{}, err
	}
	for _, part := range parts {
		x := p.index[part]
		for c, n := range x.counts {
			if k := codeKinds[c]; k != "" {
				plan.counts[k] += n
			}
		}
		if offs := x.newest(ends[part], want, limit); len(offs) > 0 {
			plan.beyond[part] = x.has(offs[len(offs)-1], want)
			slices.Reverse(offs)
			plan.candidates[part] = offs
		}
	}
	return plan, nil
}

// eachPartition runs fn for each partition at once and waits for all:
// sarama starts reading a partition a tenth of a second after it is asked,
// once for all those asked together.
func eachPartition(parts []int32, fn func(int32) error) error {
	errs := make([]error, len(parts))
	var wg sync.WaitGroup
	for i, part := range parts {
		wg.Go(func() { errs[i] = fn(part) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// readKinds reads the messages of one partition from what the index has up
// to newest (exclusive) and notes their kinds. What it read stays noted
// when the context ends first, so the next listing goes on from there.
func (p *Parked) readKinds(ctx context.Context, client sarama.Client, part int32, x *kindIndex, newest int64) error {
	from := x.next()
	if from >= newest {
		return nil
	}
	pc, err := consumePartition(client, p.topic, part, from)
	if err != nil {
		return err
	}
	defer pc.AsyncClose()
	for {
		select {
		case m := <-pc.Messages():
			if m.Offset >= newest {
				return nil
			}
			c, _ := codeOf(order.Kind(header(m, HeaderErrorKind)))
			x.add(m.Offset, c)
			if m.Offset == newest-1 {
				return nil
			}
		case err := <-pc.Errors():
			return fmt.Errorf("read %s/%d: %w", p.topic, part, err)
		case <-ctx.Done():
			return fmt.Errorf("read %s/%d up to %d, at %d: %w", p.topic, part, newest, x.next(), ctx.Err())
		}
	}
}

// readOffsets reads the messages at the given ascending offsets of one
// partition, newest last. Offsets close together are read in one pass.
func readOffsets(ctx context.Context, client sarama.Client, topic string, part int32, offsets []int64) ([]parkedAt, error) {
	out := make([]parkedAt, 0, len(offsets))
	for i := 0; i < len(offsets); {
		j := i + 1
		for j < len(offsets) && offsets[j]-offsets[j-1] <= 32 {
			j++
		}
		run := offsets[i:j]
		msgs, err := readRun(ctx, client, topic, part, run)
		if err != nil {
			return nil, err
		}
		out = append(out, msgs...)
		i = j
	}
	return out, nil
}

// readRun reads from run[0] to the last of run, keeping the offsets in run.
func readRun(ctx context.Context, client sarama.Client, topic string, part int32, run []int64) ([]parkedAt, error) {
	pc, err := consumePartition(client, topic, part, run[0])
	if err != nil {
		return nil, err
	}
	defer pc.AsyncClose()
	last := run[len(run)-1]
	out := make([]parkedAt, 0, len(run))
	for {
		select {
		case m := <-pc.Messages():
			if _, ok := slices.BinarySearch(run, m.Offset); ok {
				out = append(out, parkedAt{Parked: parkedOf(m), part: part, off: m.Offset})
			}
			if m.Offset >= last {
				if len(out) != len(run) {
					return nil, fmt.Errorf("read %s/%d: %d of the %d messages from %d to %d", topic, part, len(out), len(run), run[0], last)
				}
				return out, nil
			}
		case err := <-pc.Errors():
			return nil, fmt.Errorf("read %s/%d: %w", topic, part, err)
		case <-ctx.Done():
			return nil, fmt.Errorf("read %s/%d from %d to %d: %w", topic, part, run[0], last, ctx.Err())
		}
	}
}

// consumePartition reads one partition from offset on. Each read has a
// consumer of its own: a consumer refuses a partition it still reads, and
// the one before may still be closing.
func consumePartition(client sarama.Client, topic string, part int32, offset int64) (sarama.PartitionConsumer, error) {
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", topic, err)
	}
	pc, err := consumer.ConsumePartition(topic, part, offset)
	if err != nil {
		return nil, fmt.Errorf("read %s/%d from %d: %w", topic, part, offset, err)
	}
	return pc, nil
}

func header(m *sarama.ConsumerMessage, name string) string {
	for _, h := range m.Headers {
		if h != nil && string(h.Key) == name {
			return string(h.Value)
		}
	}
	return ""
}

// parkedOf keeps the first bytes of a message: copies, so that the fetched
// megabyte is not held by the page.
func parkedOf(m *sarama.ConsumerMessage) order.Parked {
	clip := func(b []byte, n int) []byte { return bytes.Clone(b[:min(len(b), n)]) }
	partition, _ := strconv.ParseInt(header(m, HeaderSourcePartition), 10, 32)
	offset, _ := strconv.ParseInt(header(m, HeaderSourceOffset), 10, 64)
	return order.Parked{
		Kind:      order.Kind(clip([]byte(header(m, HeaderErrorKind)), 64)),
		Reason:    string(clip([]byte(header(m, HeaderError)), parkedReasonBytes)),
		Topic:     string(clip([]byte(header(m, HeaderSourceTopic)), 256)),
		Partition: int32(partition),
		Offset:    offset,
		Time:      m.Timestamp,
		Key:       clip(m.Key, parkedKeyBytes),
		Body:      clip(m.Value, parkedBodyBytes),
		Size:      len(m.Value),
		ReplayOf:  string(clip([]byte(replayOf(m)), 256)),
	}
}

// replayOf is the DLQ record m is a replay of, from x-replay-of or the
// older x-replayed-from, as "<topic>/<partition>@<offset>".
func replayOf(m *sarama.ConsumerMessage) string {
	if v := header(m, HeaderReplayOf); v != "" {
		return v
	}
	v := header(m, headerReplayedFrom)
	if i := strings.LastIndexByte(v, '/'); i >= 0 {
		return v[:i] + "@" + v[i+1:]
	}
	return ""
}

// kindCode is a kind in one byte of the index.
type kindCode uint8

const (
	codeNone kindCode = iota // no message at the offset, or any kind when wanted
	codeDecode
	codeValidation
	codeConflict
	codeOther // a kind the contract does not name
	codes
)

var codeKinds = [codes]order.Kind{codeDecode: order.KindDecode, codeValidation: order.KindValidation, codeConflict: order.KindConflict}

// codeOf is the code of a kind; ok is false for a kind the contract does
// not name, whose code is codeOther.
func codeOf(k order.Kind) (kindCode, bool) {
	for c, known := range codeKinds {
		if known != "" && known == k {
			return kindCode(c), true
		}
	}
	return codeOther, false
}

// kindIndex is the kind of each message of one partition from base on.
type kindIndex struct {
	base   int64
	kinds  []kindCode // kinds[i] is the kind at offset base+i
	counts [codes]int
}

func (x *kindIndex) next() int64 { return x.base + int64(len(x.kinds)) }

// add notes the kind of the message at off, at or past next.
func (x *kindIndex) add(off int64, c kindCode) {
	if off < x.next() {
		return
	}
	for x.next() < off {
		x.kinds = append(x.kinds, codeNone)
	}
	x.kinds = append(x.kinds, c)
	x.counts[c]++
}

// dropBelow forgets the offsets below off: retention deleted them, or they
// are past maxIndexed.
func (x *kindIndex) dropBelow(off int64) {
	if off <= x.base {
		return
	}
	n := int(min(off-x.base, int64(len(x.kinds))))
	for _, c := range x.kinds[:n] {
		x.counts[c]--
	}
	x.kinds = x.kinds[n:]
	if cap(x.kinds) > 2*len(x.kinds)+4096 {
		x.kinds = slices.Clone(x.kinds)
	}
	x.base = off
}

func (x *kindIndex) matches(c, want kindCode) bool {
	return c != codeNone && (want == codeNone || c == want)
}

// newest returns up to n offsets below end holding a message of the wanted
// kind, newest first.
func (x *kindIndex) newest(end int64, want kindCode, n int) []int64 {
	var out []int64
	for off := min(end, x.next()) - 1; off >= x.base && len(out) < n; off-- {
		if x.matches(x.kinds[off-x.base], want) {
			out = append(out, off)
		}
	}
	return out
}

// has reports whether a message of the wanted kind sits below end.
func (x *kindIndex) has(end int64, want kindCode) bool {
	return len(x.newest(end, want, 1)) > 0
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
