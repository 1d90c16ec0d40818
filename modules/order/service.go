package order

import (
	"context"
	"fmt"
)

// Outcome is what storing one parsed order did.
type Outcome int

// The outcomes of storing an order. The strings are the metric's outcome label.
const (
	Stored    Outcome = iota // a new order, now durable
	Duplicate                // the same order was already stored: nothing changed
	Conflict                 // a different order is stored under this uid: not merged
	Invalid                  // not an order that can be stored: a decode or validation rejection
)

// Outcomes are every outcome, in the order the metric lists them.
var Outcomes = []Outcome{Stored, Duplicate, Invalid, Conflict}

func (o Outcome) String() string {
	switch o {
	case Stored:
		return "stored"
	case Duplicate:
		return "duplicate"
	case Conflict:
		return "conflict"
	case Invalid:
		return "invalid"
	default:
		return fmt.Sprintf("outcome(%d)", int(o))
	}
}

// Store is the durable home of orders.
type Store interface {
	// SaveBatch stores the orders in one transaction and returns one outcome per
	// order, in order. An error means nothing was stored and the call may be
	// retried.
	SaveBatch(ctx context.Context, batch []Parsed) ([]Outcome, error)
	// Get returns the order stored under uid, or ErrNotFound.
	Get(ctx context.Context, uid string) (Record, error)
}

// Cache holds the newest orders in memory.
type Cache interface {
	Put(r Record) bool
	Get(uid string) (Record, bool)
}

// Service is what the outside asks of orders: take a batch in, look one up.
type Service struct {
	store Store
	cache Cache
}

// NewService joins a store and a cache.
func NewService(store Store, cache Cache) *Service {
	return &Service{store: store, cache: cache}
}

// Ingest stores a batch and, once it is durable, caches what is stored.
func (s *Service) Ingest(ctx context.Context, batch []Parsed) ([]Outcome, error) {
	outcomes, err := s.store.SaveBatch(ctx, batch)
	if err != nil {
		return nil, err
	}
	for i, o := range outcomes {
		if o == Stored {
			s.cache.Put(batch[i].Record())
		}
	}
	return outcomes, nil
}

// Get returns the order under uid and whether the cache answered. A miss reads
// the store; the record is the same either way.
func (s *Service) Get(ctx context.Context, uid string) (Record, bool, error) {
	if r, ok := s.cache.Get(uid); ok {
		return r, true, nil
	}
	r, err := s.store.Get(ctx, uid)
	if err != nil {
		return Record{}, false, err
	}
	return r, false, nil
}
