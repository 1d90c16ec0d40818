package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	randv2 "math/rand/v2"
	"os"

	"github.com/marketplace/orders/modules/order"
	"github.com/marketplace/orders/modules/order/fake"
)

// message is one record to publish. An empty key is sent as no key.
type message struct {
	key    string
	value  []byte
	broken bool // deliberately broken by -invalid
}

// source hands out the messages to publish, one at a time; ok is false once
// there are no more.
type source interface {
	next() (m message, ok bool)
}

// generatedSource makes count orders (0 = no end), a share of them broken.
type generatedSource struct {
	gen     *fake.Generator
	rnd     *randv2.Rand
	count   int
	invalid float64
	made    int
}

func newGeneratedSource(gen *fake.Generator, count int, invalid float64, seed int64) *generatedSource {
	// A stream of its own, so which messages are broken does not shift the
	// orders the generator makes for the same seed.
	rnd := randv2.New(randv2.NewPCG(uint64(seed), 0x696e76616c6964))
	return &generatedSource{gen: gen, rnd: rnd, count: count, invalid: invalid}
}

func (s *generatedSource) next() (message, bool) {
	if s.count > 0 && s.made >= s.count {
		return message{}, false
	}
	s.made++
	if s.invalid > 0 && s.rnd.Float64() < s.invalid {
		key, raw, _ := s.gen.Invalid()
		return message{key: key, value: raw, broken: true}, true
	}
	uid, raw := s.gen.OrderJSON()
	return message{key: uid, value: raw}, true
}

// sliceSource hands out messages read beforehand.
type sliceSource struct {
	msgs []message
	i    int
}

func (s *sliceSource) next() (message, bool) {
	if s.i >= len(s.msgs) {
		return message{}, false
	}
	s.i++
	return s.msgs[s.i-1], true
}

// readOrdersFile reads the JSON objects in path: one object, an array of
// objects, or objects one after another (one per line, say). Each message is
// the object's bytes as in the file, compacted, keyed by its order_uid when
// that is a string.
func readOrdersFile(path string) ([]message, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("-file: %w", err)
	}
	var msgs []message
	add := func(raw json.RawMessage, where func() string) error {
		if first(raw) != '{' {
			return fmt.Errorf("-file %s: %s is a JSON %s, want an object", path, where(), order.JSONKind(first(raw)))
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, raw); err != nil {
			return fmt.Errorf("-file %s: %s: %w", path, where(), err)
		}
		var head struct {
			OrderUID any `json:"order_uid"`
		}
		if err := json.Unmarshal(raw, &head); err != nil {
			return fmt.Errorf("-file %s: %s: %w", path, where(), err)
		}
		uid, _ := head.OrderUID.(string)
		msgs = append(msgs, message{key: uid, value: compact.Bytes()})
		return nil
	}

	dec := json.NewDecoder(bytes.NewReader(data))
	for n := 1; ; n++ {
		start := dec.InputOffset()
		// where is only for error messages: counting lines for every value
		// would make reading a large file quadratic.
		where := func() string { return fmt.Sprintf("value %d (line %d)", n, lineAt(data, start)) }
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("-file %s: %s: %w", path, where(), err)
		}
		if first(raw) != '[' {
			if err := add(raw, where); err != nil {
				return nil, err
			}
			continue
		}
		var elems []json.RawMessage
		if err := json.Unmarshal(raw, &elems); err != nil {
			return nil, fmt.Errorf("-file %s: %s: %w", path, where(), err)
		}
		for i, e := range elems {
			if err := add(e, func() string { return fmt.Sprintf("%s, element %d", where(), i) }); err != nil {
				return nil, err
			}
		}
	}
	if len(msgs) == 0 {
		return nil, fmt.Errorf("-file %s: no JSON objects in it", path)
	}
	return msgs, nil
}

func first(raw []byte) byte {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return 0
	}
	return raw[0]
}

// lineAt is the 1-based line of the first non-space byte at or after offset
// off in data: where the next JSON value starts.
func lineAt(data []byte, off int64) int {
	off = min(max(off, 0), int64(len(data)))
	skipped := len(data[off:]) - len(bytes.TrimLeft(data[off:], " \t\r\n"))
	return bytes.Count(data[:int(off)+skipped], []byte("\n")) + 1
}
