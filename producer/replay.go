package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/IBM/sarama"

	"github.com/marketplace/orders/modules/config"
	"github.com/marketplace/orders/modules/kafka"
	"github.com/marketplace/orders/modules/order"
)

// headerReplayedFrom is what replays before kafka.HeaderReplayOf added:
// "<dlq topic>/<partition>/<offset>". It is still read, so that the copies
// they left in the DLQ count as replays.
const headerReplayedFrom = "x-replayed-from"

// replayKinds are the x-error-kind values -kind takes, sorted. Progress is
// kept for each, and for otherKind: a message with no kind or one not listed
// here.
var replayKinds = []string{string(order.KindConflict), string(order.KindDecode), string(order.KindValidation)}

const otherKind = "other"

const (
	// replayChunk and replayChunkBytes bound the messages handed to the
	// producer at once; a partition's progress moves chunk by chunk.
	replayChunk      = 500
	replayChunkBytes = 8 << 20
	// replayIdle is the longest wait for the next message below the mark.
	replayIdle = 10 * time.Second
	// maxListed is how many messages held back or skipped a run lists one by
	// one; a dry run lists every one.
	maxListed = 20
)

// replayOptions are the flags of -replay-dlq.
type replayOptions struct {
	dryRun    bool
	kind      string // "" = every kind
	fromStart bool
	again     bool // also messages replayed once already and parked again
}

// replayGroup is the consumer group under which replay progress is kept.
func replayGroup(group string) string { return group + "-dlq-replay" }

// replayer republishes what the DLQ topic holds, up to its end as of the
// start, to the orders topic.
//
// It reads each partition with a plain partition consumer, not a group
// member, and commits progress to replayGroup itself, so one replay at a
// time is assumed. Progress is kept per kind (in the commit's metadata), so
// that a run with -kind validation does not count the decode rejects it
// skipped as done: the committed offset is where every kind is done, the
// metadata says how far each kind got beyond it.
//
// So that replay never multiplies a failure, it sends a message only when
// the service's rules (rules, from the same settings) now take it, never a
// conflict unless -kind conflict asks for them, and never a message that
// was replayed once already and parked again unless -again asks for it;
// even then one copy a run.
type replayer struct {
	client   sarama.Client       // reads the DLQ and commits progress
	producer sarama.SyncProducer // nil in a dry run
	dlqTopic string
	topic    string
	group    string
	rules    order.Rules
	opts     replayOptions
	idle     time.Duration
	stdout   io.Writer
	stderr   io.Writer

	links  links
	listed int // messages listed as held back or skipped
}

// replayReport is what a replay did.
type replayReport struct {
	replayed     map[string]int // by x-error-kind as found ("" = none)
	stillFailing int            // held back: the rules still reject them
	conflicts    int            // held back: a conflict, and -kind conflict not given
	parkedAgain  int            // skipped: replayed once already and parked again, or a copy of one that was
	otherKind    int            // skipped: of another kind than -kind
	unlisted     int            // held back or skipped but not listed
	failed       int
	firstErr     error
}

func (r *replayReport) held() int    { return r.stillFailing + r.conflicts }
func (r *replayReport) skipped() int { return r.parkedAgain + r.otherKind }

// summary is the last line of a run: verb is "replayed" or "would replay".
func (r *replayReport) summary(verb string) string {
	s := fmt.Sprintf("%s %d", verb, r.total())
	if r.total() > 0 {
		s += " (" + r.byKind() + ")"
	}
	s += fmt.Sprintf("; held back %d", r.held())
	if r.held() > 0 {
		s += fmt.Sprintf(" (still failing %d, conflict %d)", r.stillFailing, r.conflicts)
	}
	s += fmt.Sprintf("; skipped %d", r.skipped())
	if r.skipped() > 0 {
		s += fmt.Sprintf(" (replayed once and parked again %d, another kind %d)", r.parkedAgain, r.otherKind)
	}
	return s + fmt.Sprintf("; failed %d", r.failed)
}

func (r *replayReport) total() int {
	n := 0
	for _, c := range r.replayed {
		n += c
	}
	return n
}

func (r *replayReport) byKind() string {
	kinds := make([]string, 0, len(r.replayed))
	for k := range r.replayed {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	parts := make([]string, len(kinds))
	for i, k := range kinds {
		parts[i] = fmt.Sprintf("%s %d", kindLabel(k), r.replayed[k])
	}
	return strings.Join(parts, ", ")
}

func kindLabel(kind string) string {
	if kind == "" {
		return "(no kind)"
	}
	return kind
}

// progressKey is the kind under which a message's progress is kept.
func progressKey(kind string) string {
	if slices.Contains(replayKinds, kind) {
		return kind
	}
	return otherKind
}

// progress is, for one partition, the offset below which every message of
// a kind has been replayed.
type progress struct {
	base  int64            // every kind is done below it: the committed offset
	kinds map[string]int64 // kinds that got further than base
}

// parseProgress reads a committed offset and its metadata. Metadata it does
// not understand counts for nothing: at worst messages are replayed again.
func parseProgress(offset int64, metadata string) progress {
	p := progress{base: max(offset, 0), kinds: map[string]int64{}}
	for _, field := range strings.Split(metadata, ",") {
		k, v, ok := strings.Cut(field, "=")
		n, err := strconv.ParseInt(v, 10, 64)
		if ok && err == nil && (k == otherKind || slices.Contains(replayKinds, k)) && n > p.base {
			p.kinds[k] = n
		}
	}
	return p
}

func (p progress) next(key string) int64 {
	return max(p.base, p.kinds[key])
}

// advance records that every message of the keys below offset to is done.
func (p progress) advance(keys []string, to int64) progress {
	return p.with(keys, func(n int64) int64 { return max(n, to) })
}

// forget is p with nothing of the keys done.
func (p progress) forget(keys []string) progress {
	return p.with(keys, func(int64) int64 { return 0 })
}

// with is p with the progress of the keys changed by f.
func (p progress) with(keys []string, f func(n int64) int64) progress {
	out := progress{kinds: map[string]int64{}}
	for _, k := range append(slices.Clone(replayKinds), otherKind) {
		n := p.next(k)
		if slices.Contains(keys, k) {
			n = f(n)
		}
		out.kinds[k] = n
	}
	out.base = out.kinds[otherKind]
	for _, n := range out.kinds {
		out.base = min(out.base, n)
	}
	for k, n := range out.kinds {
		if n <= out.base {
			delete(out.kinds, k)
		}
	}
	return out
}

func (p progress) metadata() string {
	keys := make([]string, 0, len(p.kinds))
	for k := range p.kinds {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + strconv.FormatInt(p.kinds[k], 10)
	}
	return strings.Join(parts, ",")
}

// keys are the progress keys this run replays, and so moves on. Without
// -kind that is every kind but conflict: a conflict is only replayed when
// asked for by name, so its progress waits for that run.
func (o replayOptions) keys() []string {
	if o.kind != "" {
		return []string{o.kind}
	}
	return append(slices.DeleteFunc(slices.Clone(replayKinds), func(k string) bool { return k == string(order.KindConflict) }), otherKind)
}

// readKeys are the progress keys this run looks at: those it replays, and
// without -kind the conflicts too, to list them.
func (o replayOptions) readKeys() []string {
	if o.kind != "" {
		return []string{o.kind}
	}
	return append(slices.Clone(replayKinds), otherKind)
}

func (o replayOptions) wants(kind string) bool {
	return o.kind == "" || kind == o.kind
}

// position is a record of the DLQ, spelt as x-replay-of spells it.
func position(topic string, partition int32, offset int64) string {
	return fmt.Sprintf("%s/%d@%d", topic, partition, offset)
}

// origin is the DLQ record that m is a replay of, as a position, read from
// x-replay-of or from the x-replayed-from of earlier replays; "" when m is
// not a replay.
func origin(m *sarama.ConsumerMessage) string {
	if v := header(m, kafka.HeaderReplayOf); v != "" {
		return v
	}
	v := header(m, headerReplayedFrom)
	i := strings.LastIndexByte(v, '/')
	if i < 0 {
		return ""
	}
	return v[:i] + "@" + v[i+1:]
}

// links are what the whole DLQ says about replays: which records were
// replayed and parked again (and where the copy is), and for each partition
// the first record that is such a copy.
type links struct {
	parkedAs  map[string]string // position -> position of its replay's parked copy
	firstCopy map[int32]int64   // partition -> lowest offset of a record with an origin
}

// scanLinks reads every partition of the DLQ from its oldest record up to
// ends. A copy may sit in another partition than the record it is a replay
// of (a message without a key lands anywhere), and progress says nothing
// about where copies are, so the whole topic is read: a DLQ is small next to
// the orders topic.
func (rp *replayer) scanLinks(ctx context.Context, consumer sarama.Consumer, partitions []int32, ends map[int32]int64) (links, error) {
	l := links{parkedAs: map[string]string{}, firstCopy: map[int32]int64{}}
	for _, p := range partitions {
		oldest, err := rp.client.GetOffset(rp.dlqTopic, p, sarama.OffsetOldest)
		if err != nil {
			return l, fmt.Errorf("start of %s/%d: %w", rp.dlqTopic, p, err)
		}
		if oldest >= ends[p] {
			continue
		}
		pc, err := consumer.ConsumePartition(rp.dlqTopic, p, oldest)
		if err != nil {
			return l, fmt.Errorf("read %s/%d from %d: %w", rp.dlqTopic, p, oldest, err)
		}
		err = rp.each(ctx, pc, p, oldest, ends[p], func(m *sarama.ConsumerMessage) error {
			if from := origin(m); from != "" {
				l.parkedAs[from] = position(m.Topic, m.Partition, m.Offset)
				if _, ok := l.firstCopy[p]; !ok {
					l.firstCopy[p] = m.Offset
				}
			}
			return nil
		})
		// Closed, not AsyncClosed: the partition is read again next.
		if cerr := pc.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("read %s/%d: %w", rp.dlqTopic, p, cerr)
		}
		if err != nil {
			return l, err
		}
	}
	return l, nil
}

// each calls f for every record of the partition from start up to end, and
// stops at the first error f returns.
func (rp *replayer) each(ctx context.Context, pc sarama.PartitionConsumer, p int32, start, end int64, f func(*sarama.ConsumerMessage) error) error {
	idle := time.NewTimer(rp.idle)
	defer idle.Stop()
	for next := start; next < end; {
		select {
		case m, ok := <-pc.Messages():
			if !ok {
				return fmt.Errorf("read %s/%d: stopped at offset %d of %d", rp.dlqTopic, p, next, end)
			}
			idle.Reset(rp.idle)
			if m.Offset >= end {
				return nil
			}
			next = m.Offset + 1
			if err := f(m); err != nil {
				return err
			}
		case err := <-pc.Errors():
			return fmt.Errorf("read %s/%d: %w", rp.dlqTopic, p, err)
		case <-idle.C:
			return fmt.Errorf("read %s/%d: no message for %s at offset %d, below the end %d", rp.dlqTopic, p, rp.idle, next, end)
		case <-ctx.Done():
			return fmt.Errorf("interrupted: %w", ctx.Err())
		}
	}
	return nil
}

// replay runs over every partition of the DLQ topic and reports. The error is
// nil only when every message it set out to replay was acknowledged and the
// progress committed.
func (rp *replayer) replay(ctx context.Context) (replayReport, error) {
	rep := replayReport{replayed: map[string]int{}}
	rp.listed = 0
	partitions, err := rp.client.Partitions(rp.dlqTopic)
	if err != nil {
		return rep, fmt.Errorf("partitions of %s: %w", rp.dlqTopic, err)
	}
	// The end is fixed first: what is parked while the replay runs, its own
	// failures included, waits for the next run.
	ends := make(map[int32]int64, len(partitions))
	for _, p := range partitions {
		if ends[p], err = rp.client.GetOffset(rp.dlqTopic, p, sarama.OffsetNewest); err != nil {
			return rep, fmt.Errorf("end of %s/%d: %w", rp.dlqTopic, p, err)
		}
	}
	committed, err := rp.committed(partitions)
	if err != nil {
		return rep, err
	}
	consumer, err := sarama.NewConsumerFromClient(rp.client)
	if err != nil {
		return rep, fmt.Errorf("consumer: %w", err)
	}
	defer consumer.Close()
	if rp.links, err = rp.scanLinks(ctx, consumer, partitions, ends); err != nil {
		return rep, err
	}

	for _, p := range partitions {
		if err := ctx.Err(); err != nil {
			return rep, fmt.Errorf("interrupted: %w", err)
		}
		if err := rp.partition(ctx, consumer, p, ends[p], committed[p], &rep); err != nil {
			return rep, err
		}
	}
	if rep.unlisted > 0 {
		fmt.Fprintf(rp.stdout, "... and %d more held back or skipped: -dry-run lists every one\n", rep.unlisted)
	}
	if rep.failed > 0 {
		return rep, fmt.Errorf("%d of %d messages were not acknowledged, the first: %w", rep.failed, rep.total()+rep.failed, rep.firstErr)
	}
	return rep, nil
}

// committed reads the replay group's progress for each partition.
func (rp *replayer) committed(partitions []int32) (map[int32]progress, error) {
	out := make(map[int32]progress, len(partitions))
	for _, p := range partitions {
		out[p] = progress{kinds: map[string]int64{}}
	}
	coordinator, err := rp.client.Coordinator(rp.group)
	if err != nil {
		return nil, fmt.Errorf("coordinator of group %s: %w", rp.group, err)
	}
	req := sarama.NewOffsetFetchRequest(rp.client.Config().Version, rp.group, map[string][]int32{rp.dlqTopic: partitions})
	resp, err := coordinator.FetchOffset(req)
	if err != nil {
		return nil, fmt.Errorf("progress of group %s: %w", rp.group, err)
	}
	switch err := resp.GroupError(); {
	case errors.Is(err, sarama.ErrGroupIDNotFound):
		return out, nil // the first run
	case !errors.Is(err, sarama.ErrNoError):
		return nil, fmt.Errorf("progress of group %s: %w", rp.group, err)
	}
	for _, p := range partitions {
		b := resp.GetBlock(rp.dlqTopic, p)
		if b == nil {
			continue
		}
		if !errors.Is(b.Err, sarama.ErrNoError) {
			return nil, fmt.Errorf("progress of group %s on %s/%d: %w", rp.group, rp.dlqTopic, p, b.Err)
		}
		out[p] = parseProgress(b.Offset, b.Metadata)
	}
	return out, nil
}

// partition replays one partition from where each kind's progress stands up
// to end, committing progress as chunks are acknowledged.
func (rp *replayer) partition(ctx context.Context, consumer sarama.Consumer, p int32, end int64, prog progress, rep *replayReport) error {
	oldest, err := rp.client.GetOffset(rp.dlqTopic, p, sarama.OffsetOldest)
	if err != nil {
		return fmt.Errorf("start of %s/%d: %w", rp.dlqTopic, p, err)
	}
	pr := &partitionReplay{rp: rp, p: p, keys: rp.opts.keys(), prog: prog, done: prog, rep: rep}
	// -from-start forgets what counts as replayed for the kinds looked at,
	// not what is committed: the other kinds keep their progress.
	if rp.opts.fromStart {
		pr.done = prog.forget(rp.opts.readKeys())
	}
	start := end
	for _, k := range rp.opts.readKeys() {
		start = min(start, pr.done.next(k))
	}
	// -again looks at the copies parked again wherever progress stands.
	if first, ok := rp.links.firstCopy[p]; ok && rp.opts.again {
		start = min(start, first)
	}
	start = max(start, oldest) // older ones are gone with the topic's retention
	if start >= end {
		return nil
	}
	pc, err := consumer.ConsumePartition(rp.dlqTopic, p, start)
	if err != nil {
		return fmt.Errorf("read %s/%d from %d: %w", rp.dlqTopic, p, start, err)
	}
	defer pc.AsyncClose()
	return pr.read(ctx, pc, start, end)
}

// partitionReplay is one partition's replay: what counts as replayed already
// (done), what is committed (prog), and the chunk read but not yet published.
type partitionReplay struct {
	rp         *replayer
	p          int32
	keys       []string
	done, prog progress
	chunk      []*sarama.ConsumerMessage
	chunkBytes int
	rep        *replayReport
}

// read takes the messages from start up to end, publishing in chunks. When
// interrupted, what is in hand was read, not sent: progress stays before it.
func (pr *partitionReplay) read(ctx context.Context, pc sarama.PartitionConsumer, start, end int64) error {
	err := pr.rp.each(ctx, pc, pr.p, start, end, func(m *sarama.ConsumerMessage) error {
		if pr.take(m) {
			return pr.flush(m.Offset + 1)
		}
		return nil
	})
	if err != nil {
		return ignoreStop(err)
	}
	return ignoreStop(pr.flush(end))
}

// take skips, holds back, lists (dry run) or adds m to the chunk, and
// reports whether the chunk is full.
func (pr *partitionReplay) take(m *sarama.ConsumerMessage) bool {
	rp, rep := pr.rp, pr.rep
	kind := header(m, kafka.HeaderErrorKind)
	here := position(m.Topic, m.Partition, m.Offset)
	from := origin(m)
	copyOf := rp.links.parkedAs[here]
	// A copy parked again, looked at only for -again, may sit below progress.
	again := rp.opts.again && from != "" && copyOf == ""
	switch {
	case !rp.opts.wants(kind):
		rep.otherKind++
		return false
	case m.Offset < pr.done.next(progressKey(kind)) && !again:
		// Looked at by an earlier run; read again only because this run
		// starts lower for another kind.
		return false
	case copyOf != "":
		// Its replay failed and is parked as copyOf, which stands for it.
		rep.parkedAgain++
		if rp.opts.dryRun {
			pr.list(m, kind, "skipped", fmt.Sprintf("replayed once already; the copy parked again is %s", copyOf))
		}
		return false
	case from != "" && !rp.opts.again:
		rep.parkedAgain++
		pr.list(m, kind, "skipped", fmt.Sprintf("replayed once already (a replay of %s) and parked again; %s sends it once more", from, rp.againHint(kind)))
		return false
	case kind == string(order.KindConflict) && rp.opts.kind != kind:
		rep.conflicts++
		pr.list(m, kind, "held back", "a conflict cannot be checked without the database; once the stored order is fixed, replay with -kind conflict")
		return false
	}
	if _, err := rp.rules.Parse(m.Value); err != nil {
		rep.stillFailing++
		pr.list(m, kind, "held back", "still fails: "+reason(err))
		return false
	}
	if rp.producer == nil {
		rep.replayed[kind]++
		fmt.Fprintf(rp.stdout, "partition %d offset %d key %s kind %s error %q\n",
			pr.p, m.Offset, keyLabel(m.Key), kindLabel(kind), header(m, kafka.HeaderError))
		return false
	}
	pr.chunk = append(pr.chunk, m)
	pr.chunkBytes += len(m.Key) + len(m.Value)
	return len(pr.chunk) >= replayChunk || pr.chunkBytes >= replayChunkBytes
}

// againHint is the flags that send a message of kind parked again.
func (rp *replayer) againHint(kind string) string {
	if kind == string(order.KindConflict) && rp.opts.kind != kind {
		return "-kind conflict -again"
	}
	return "-again"
}

// list prints one message held back or skipped, up to maxListed a run
// (every one in a dry run).
func (pr *partitionReplay) list(m *sarama.ConsumerMessage, kind, what, why string) {
	if !pr.rp.opts.dryRun && pr.rp.listed >= maxListed {
		pr.rep.unlisted++
		return
	}
	pr.rp.listed++
	fmt.Fprintf(pr.rp.stdout, "%s: partition %d offset %d key %s kind %s: %s\n", what, pr.p, m.Offset, keyLabel(m.Key), kindLabel(kind), why)
}

// reason is the service's reason for rejecting a message: the problems
// without the kind, which the line names already.
func reason(err error) string {
	var rej *order.RejectError
	if errors.As(err, &rej) {
		return string(rej.Kind) + ": " + rej.Reason()
	}
	return err.Error()
}

// flush publishes the chunk and commits progress up to reached, or up to the
// first message not acknowledged (then it returns errStopPartition).
func (pr *partitionReplay) flush(reached int64) error {
	if pr.rp.producer == nil {
		return nil
	}
	if len(pr.chunk) > 0 {
		failed, err := pr.rp.publish(pr.chunk)
		for _, m := range pr.chunk {
			if _, ok := failed[m.Offset]; !ok {
				pr.rep.replayed[header(m, kafka.HeaderErrorKind)]++
			}
		}
		pr.chunk, pr.chunkBytes = pr.chunk[:0], 0
		if err != nil {
			pr.rep.failed += len(failed)
			if pr.rep.firstErr == nil {
				pr.rep.firstErr = err
			}
			// Those acknowledged past the first failure are replayed again by
			// the next run: at least once, never skipped.
			for off := range failed {
				reached = min(reached, off)
			}
			pr.prog = pr.prog.advance(pr.keys, reached)
			if cerr := pr.rp.commit(pr.p, pr.prog); cerr != nil {
				return cerr
			}
			return errStopPartition
		}
	}
	pr.prog = pr.prog.advance(pr.keys, reached)
	return pr.rp.commit(pr.p, pr.prog)
}

// errStopPartition ends a partition after a publish failure, which the
// report carries.
var errStopPartition = errors.New("stop partition")

func ignoreStop(err error) error {
	if errors.Is(err, errStopPartition) {
		return nil
	}
	return err
}

// publish sends the chunk to the orders topic and waits for every
// acknowledgement. On failure it returns the offsets of the messages not
// acknowledged.
func (rp *replayer) publish(chunk []*sarama.ConsumerMessage) (map[int64]struct{}, error) {
	msgs := make([]*sarama.ProducerMessage, len(chunk))
	for i, m := range chunk {
		msgs[i] = rp.replayMessage(m)
		msgs[i].Metadata = m.Offset
	}
	err := rp.producer.SendMessages(msgs)
	if err == nil {
		return nil, nil
	}
	failed := map[int64]struct{}{}
	var perrs sarama.ProducerErrors
	if !errors.As(err, &perrs) || len(perrs) == 0 {
		for _, m := range chunk {
			failed[m.Offset] = struct{}{}
		}
		return failed, fmt.Errorf("publish to %s: %w", rp.topic, err)
	}
	for i, pe := range perrs {
		off, ok := pe.Msg.Metadata.(int64)
		if !ok { // cannot tell which: none counts as acknowledged
			for _, m := range chunk {
				failed[m.Offset] = struct{}{}
			}
			break
		}
		failed[off] = struct{}{}
		if i < maxShownFailures {
			fmt.Fprintf(rp.stderr, "failed: %s/%d/%d key %s: %v\n", rp.dlqTopic, chunk[0].Partition, off, keyOf(pe.Msg), pe.Err)
		}
	}
	return failed, fmt.Errorf("publish to %s: %w", rp.topic, perrs[0].Err)
}

// replayMessage is the parked message as it was first sent: same key and
// value (a missing one stays missing), the headers that were not the DLQ's
// or an earlier replay's, and where it was parked (kafka.HeaderReplayOf).
func (rp *replayer) replayMessage(m *sarama.ConsumerMessage) *sarama.ProducerMessage {
	pm := &sarama.ProducerMessage{Topic: rp.topic}
	if m.Key != nil {
		pm.Key = sarama.ByteEncoder(m.Key)
	}
	if m.Value != nil {
		pm.Value = sarama.ByteEncoder(m.Value)
	}
	for _, h := range m.Headers {
		if h == nil || strings.HasPrefix(string(h.Key), "x-") {
			continue
		}
		pm.Headers = append(pm.Headers, *h)
	}
	from := position(m.Topic, m.Partition, m.Offset)
	pm.Headers = append(pm.Headers, sarama.RecordHeader{Key: []byte(kafka.HeaderReplayOf), Value: []byte(from)})
	return pm
}

// commit records the partition's progress for the replay group.
func (rp *replayer) commit(p int32, prog progress) error {
	req := sarama.NewOffsetCommitRequest(rp.client.Config(), rp.group)
	req.AddBlock(rp.dlqTopic, p, prog.base, 0, prog.metadata())
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if attempt > 0 {
			_ = rp.client.RefreshCoordinator(rp.group)
		}
		var coordinator *sarama.Broker
		if coordinator, err = rp.client.Coordinator(rp.group); err != nil {
			continue
		}
		var resp *sarama.OffsetCommitResponse
		if resp, err = coordinator.CommitOffset(req); err != nil {
			continue
		}
		if kerr, ok := resp.Errors[rp.dlqTopic][p]; !ok {
			err = errors.New("no answer for the partition")
		} else if !errors.Is(kerr, sarama.ErrNoError) {
			err = kerr
		} else {
			return nil
		}
	}
	return fmt.Errorf("commit progress of group %s on %s/%d (a second run replays those messages again): %w", rp.group, rp.dlqTopic, p, err)
}

func header(m *sarama.ConsumerMessage, name string) string {
	for _, h := range m.Headers {
		if h != nil && string(h.Key) == name {
			return string(h.Value)
		}
	}
	return ""
}

func keyLabel(key []byte) string {
	if key == nil {
		return "(none)"
	}
	return strconv.Quote(string(key))
}

// replayClientConfig is for reading the DLQ and committing progress.
func replayClientConfig(sec kafka.Security) (*sarama.Config, error) {
	cfg, err := sec.SaramaConfig("orders-dlq-replay")
	if err != nil {
		return nil, err
	}
	// Partitions are read one after another over one connection: a fetch
	// left waiting at the end of the last one holds up the next.
	cfg.Consumer.MaxWaitTime = 50 * time.Millisecond
	return cfg, nil
}

// runReplay is the -replay-dlq program: k says where, rules what the
// service takes now.
func runReplay(ctx context.Context, k config.Kafka, rules order.Rules, opts replayOptions, stdout, stderr io.Writer) error {
	sec := security(k)
	cfg, err := replayClientConfig(sec)
	if err != nil {
		return err
	}
	client, err := sarama.NewClient(k.Brokers, cfg)
	if err != nil {
		return fmt.Errorf("connect to kafka at %s: %w", strings.Join(k.Brokers, ","), kafka.Explain(cfg, err))
	}
	defer client.Close()
	rp := &replayer{
		client:   client,
		dlqTopic: k.DLQTopic,
		topic:    k.Topic,
		group:    replayGroup(k.Group),
		rules:    rules,
		opts:     opts,
		idle:     replayIdle,
		stdout:   stdout,
		stderr:   stderr,
	}
	what := "every kind but conflict"
	if opts.kind != "" {
		what = "kind " + opts.kind
	}
	if opts.again {
		what += ", again those parked again"
	}
	from := "where group " + rp.group + " left off"
	if opts.fromStart {
		from = "the oldest message"
	}
	checks := fmt.Sprintf("only what passes validation.totals=%s, validation.max_future=%s", totalsName(rules.Totals), rules.MaxFuture)
	if opts.dryRun {
		fmt.Fprintf(stdout, "dry run: listing what would be replayed from %s to %s (%s, from %s, %s); nothing is published\n",
			k.DLQTopic, k.Topic, what, from, checks)
	} else {
		pcfg, err := saramaConfig(sec)
		if err != nil {
			return err
		}
		producer, err := sarama.NewSyncProducer(k.Brokers, pcfg)
		if err != nil {
			return fmt.Errorf("connect to kafka at %s: %w", strings.Join(k.Brokers, ","), kafka.Explain(pcfg, err))
		}
		defer producer.Close()
		rp.producer = producer
		fmt.Fprintf(stdout, "replaying %s to %s on %s (%s, from %s, up to the end as of now, %s)\n",
			k.DLQTopic, k.Topic, strings.Join(k.Brokers, ","), what, from, checks)
	}

	start := time.Now()
	rep, err := rp.replay(ctx)
	verb := "replayed"
	if opts.dryRun {
		verb = "would replay"
	}
	fmt.Fprintf(stdout, "done in %s: %s\n", time.Since(start).Round(time.Millisecond), rep.summary(verb))
	return err
}

// totalsName spells validation.totals as the settings do.
func totalsName(check bool) string {
	if check {
		return "check"
	}
	return "off"
}
