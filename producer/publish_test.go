package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/marketplace/orders/modules/order/fake"
)

// fakeProducer answers each message with answer(n) (nil = acknowledged), or
// never answers when hang is set, like a broker that stopped responding.
type fakeProducer struct {
	sarama.AsyncProducer // only Input, Successes, Errors and AsyncClose are used
	input                chan *sarama.ProducerMessage
	successes            chan *sarama.ProducerMessage
	errors               chan *sarama.ProducerError
	answer               func(n int) error
	hang                 bool
	done                 chan struct{}
}

func newFakeProducer(t *testing.T, answer func(n int) error, hang bool) *fakeProducer {
	f := &fakeProducer{
		input:     make(chan *sarama.ProducerMessage),
		successes: make(chan *sarama.ProducerMessage),
		errors:    make(chan *sarama.ProducerError),
		answer:    answer,
		hang:      hang,
		done:      make(chan struct{}),
	}
	go f.run()
	t.Cleanup(func() { <-f.done })
	return f
}

func (f *fakeProducer) run() {
	defer close(f.done)
	n := 0
	for m := range f.input {
		if f.hang {
			continue
		}
		if err := f.answer(n); err != nil {
			f.errors <- &sarama.ProducerError{Msg: m, Err: err}
		} else {
			f.successes <- m
		}
		n++
	}
	if !f.hang {
		close(f.successes)
		close(f.errors)
	}
}

func (f *fakeProducer) Input() chan<- *sarama.ProducerMessage     { return f.input }
func (f *fakeProducer) Successes() <-chan *sarama.ProducerMessage { return f.successes }
func (f *fakeProducer) Errors() <-chan *sarama.ProducerError      { return f.errors }
func (f *fakeProducer) AsyncClose()                               { close(f.input) }

func TestPublishStopsSendingAtTheFirstFailure(t *testing.T) {
	errBroker := errors.New("broker gone")
	p := newFakeProducer(t, func(n int) error {
		if n >= 10 {
			return errBroker
		}
		return nil
	}, false)
	var stderr bytes.Buffer
	pub := publisher{producer: p, topic: "orders", drainTimeout: time.Minute, stdout: &bytes.Buffer{}, stderr: &stderr}

	// count 0: without the stop this would send forever.
	rep := pub.publish(t.Context(), newGeneratedSource(fake.New(1), 0, 0, 1))

	if !rep.stoppedOnFailure {
		t.Error("report does not say sending stopped at the failure")
	}
	if rep.acked != 10 || rep.failed < 1 || rep.acked+rep.failed != rep.sent {
		t.Errorf("sent %d, acked %d, failed %d; want 10 acked and the rest failed", rep.sent, rep.acked, rep.failed)
	}
	err := rep.err()
	if !errors.Is(err, errBroker) || exitCode(err) != 1 {
		t.Errorf("err %v (exit %d), want the broker's error and exit 1", err, exitCode(err))
	}
	if !strings.Contains(stderr.String(), "broker gone") {
		t.Errorf("stderr does not show the failure:\n%s", stderr.String())
	}
}

func TestPublishGivesUpOnOutstandingMessages(t *testing.T) {
	p := newFakeProducer(t, nil, true)
	pub := publisher{producer: p, topic: "orders", drainTimeout: 50 * time.Millisecond, stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}}

	rep := pub.publish(t.Context(), newGeneratedSource(fake.New(1), 5, 0, 1))

	if !rep.gaveUp || rep.sent != 5 || rep.acked != 0 {
		t.Errorf("report %+v, want 5 sent, none acked, gave up", rep)
	}
	if err := rep.err(); err == nil || !strings.Contains(err.Error(), "5 of 5 messages were not acknowledged") {
		t.Errorf("err %v, want one counting the unacknowledged", err)
	}
	if !strings.Contains(rep.summary(), "gave up waiting for 5 outstanding") {
		t.Errorf("summary %q does not say it gave up", rep.summary())
	}
}

func TestProgressLine(t *testing.T) {
	tests := []struct {
		name string
		pub  publisher
		want string
	}{
		{"pipe: plain lines", publisher{}, "sent 10, acked 8, failed 0, 4/s, try order_uid abc\n"},
		{"terminal: rewritten in place", publisher{live: true}, "\r\x1b[Ksent 10, acked 8, failed 0, 4/s, try order_uid abc"},
		{"count known: ETA", publisher{total: 20}, "sent 10, acked 8, failed 0, 4/s, ETA 3s, try order_uid abc\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.pub.progress(10, 8, 0, 4, "abc"); got != tt.want {
				t.Fatalf("progress = %q, want %q", got, tt.want)
			}
		})
	}
}
