package kafka

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/IBM/sarama"
)

// The DLQ headers of the contract.
const (
	HeaderError           = "x-error"
	HeaderErrorKind       = "x-error-kind"
	HeaderSourceTopic     = "x-source-topic"
	HeaderSourcePartition = "x-source-partition"
	HeaderSourceOffset    = "x-source-offset"

	// HeaderReplayOf is set by the producer's -replay-dlq on a message it
	// republishes: the DLQ record it came from, as "<topic>/<partition>@<offset>".
	// A replayed message that is parked again keeps it, so a later replay
	// can tell that this failure was already replayed once.
	HeaderReplayOf = "x-replay-of"
)

// parked is a message that will never be stored, with why.
type parked struct {
	msg    *sarama.ConsumerMessage
	kind   string
	reason string
}

// dlqMessage copies the original key and bytes and says where they came from
// and why they were parked. The original headers travel along after ours, as
// they are: HeaderReplayOf among them, and any copy of ours, which readers
// never see, as the first header of a name is the one read.
func dlqMessage(topic string, p parked) *sarama.ProducerMessage {
	headers := []sarama.RecordHeader{
		{Key: []byte(HeaderError), Value: []byte(p.reason)},
		{Key: []byte(HeaderErrorKind), Value: []byte(p.kind)},
		{Key: []byte(HeaderSourceTopic), Value: []byte(p.msg.Topic)},
		{Key: []byte(HeaderSourcePartition), Value: []byte(strconv.FormatInt(int64(p.msg.Partition), 10))},
		{Key: []byte(HeaderSourceOffset), Value: []byte(strconv.FormatInt(p.msg.Offset, 10))},
	}
	for _, h := range p.msg.Headers {
		if h != nil {
			headers = append(headers, *h)
		}
	}
	m := &sarama.ProducerMessage{Topic: topic, Value: sarama.ByteEncoder(p.msg.Value), Headers: headers}
	if p.msg.Key != nil {
		m.Key = sarama.ByteEncoder(p.msg.Key)
	}
	return m
}

// publishDLQ sends the parked messages and returns once the broker has
// acknowledged all of them. On failure it also returns the ones not
// acknowledged, so that a retry does not park the others a second time.
func publishDLQ(producer sarama.SyncProducer, topic string, ps []parked) ([]parked, error) {
	msgs := make([]*sarama.ProducerMessage, len(ps))
	for i, p := range ps {
		msgs[i] = dlqMessage(topic, p)
		msgs[i].Metadata = i
	}
	err := producer.SendMessages(msgs)
	if err == nil {
		return nil, nil
	}
	var perrs sarama.ProducerErrors
	if !errors.As(err, &perrs) || len(perrs) == 0 {
		return ps, fmt.Errorf("publish %d to %s: %w", len(msgs), topic, err)
	}
	failed := make([]parked, 0, len(perrs))
	for _, pe := range perrs {
		if i, ok := pe.Msg.Metadata.(int); ok {
			failed = append(failed, ps[i])
		}
	}
	if len(failed) != len(perrs) { // cannot tell which: send them all again
		failed = ps
	}
	// sarama's own text only counts the failures; the cause is what helps.
	return failed, fmt.Errorf("publish %d to %s: %d failed, the first: %w", len(msgs), topic, len(perrs), perrs[0].Err)
}
