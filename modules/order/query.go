package order

import (
	"errors"
	"time"
)

// ErrBadCursor means a listing's cursor was not one this service gave out.
var ErrBadCursor = errors.New("malformed cursor")

// MaxListLimit is the most orders one listing returns.
const MaxListLimit = 100

// Filter selects orders for a listing. Empty fields match every order; set
// fields must all match exactly. Listings run newest first by
// (date_created, uid).
type Filter struct {
	TrackNumber string
	Transaction string
	CustomerID  string
	Phone       string // delivery.phone
	Limit       int    // 1..MaxListLimit
	// After continues a listing: only orders strictly older than this key.
	After *Key
}

// Key is an order's place in newest-first order, the keyset of a listing.
type Key struct {
	DateCreated time.Time
	UID         string
}

// Page is one listing: records newest first, and the key to continue from
// when there may be more.
type Page struct {
	Records []Record
	Next    *Key
}

// Parked is one message the consumer copied to the dead-letter topic.
type Parked struct {
	Kind      Kind      // decode, validation or conflict
	Reason    string    // x-error
	Topic     string    // x-source-topic
	Partition int32     // x-source-partition
	Offset    int64     // x-source-offset
	Time      time.Time // when it was parked
	Key       []byte
	Body      []byte // the first bytes of the message; Size is its whole length
	Size      int
	// ReplayOf is the DLQ record this message is a replay of, as
	// "<topic>/<partition>@<offset>" (x-replay-of, or the older
	// x-replayed-from); empty when it was parked on first delivery.
	ReplayOf string
}

// ParkedPage is one listing of parked messages, newest first, with an opaque
// cursor to continue from (empty at the end).
type ParkedPage struct {
	Items []Parked
	Next  string
	// Counts is how many messages of each kind are parked, over the whole
	// topic whatever kind the page lists.
	Counts map[Kind]int
}
