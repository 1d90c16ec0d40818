// Package order is the domain: what an order is, what makes one valid, and the
// errors and services the rest of the program speaks in. It imports no
// infrastructure, so every outside piece (Kafka, PostgreSQL, HTTP) depends on
// it and never the other way round.
package order

import "time"

// Order is one marketplace order as it travels on the topic. Money and counts
// are integers in minor units; a fractional value is a decode error, never
// rounded.
type Order struct {
	OrderUID          string    `json:"order_uid"`
	TrackNumber       string    `json:"track_number"`
	Entry             string    `json:"entry"`
	Delivery          Delivery  `json:"delivery"`
	Payment           Payment   `json:"payment"`
	Items             []Item    `json:"items"`
	Locale            string    `json:"locale"`
	InternalSignature string    `json:"internal_signature"`
	CustomerID        string    `json:"customer_id"`
	DeliveryService   string    `json:"delivery_service"`
	ShardKey          string    `json:"shardkey"`
	SmID              int64     `json:"sm_id"`
	DateCreated       time.Time `json:"date_created"`
	OofShard          string    `json:"oof_shard"`
}

// Delivery is where the order goes.
type Delivery struct {
	Name    string `json:"name"`
	Phone   string `json:"phone"`
	Zip     string `json:"zip"`
	City    string `json:"city"`
	Address string `json:"address"`
	Region  string `json:"region"`
	Email   string `json:"email"`
}

// Payment is how the order was paid. Amount = GoodsTotal + DeliveryCost + CustomFee.
type Payment struct {
	Transaction  string `json:"transaction"`
	RequestID    string `json:"request_id"`
	Currency     string `json:"currency"`
	Provider     string `json:"provider"`
	Amount       int64  `json:"amount"`
	PaymentDt    int64  `json:"payment_dt"`
	Bank         string `json:"bank"`
	DeliveryCost int64  `json:"delivery_cost"`
	GoodsTotal   int64  `json:"goods_total"`
	CustomFee    int64  `json:"custom_fee"`
}

// Item is one line of the order. TotalPrice = floor(Price * (100 - Sale) / 100).
type Item struct {
	ChrtID      int64  `json:"chrt_id"`
	TrackNumber string `json:"track_number"`
	Price       int64  `json:"price"`
	Rid         string `json:"rid"`
	Name        string `json:"name"`
	Sale        int64  `json:"sale"`
	Size        string `json:"size"`
	TotalPrice  int64  `json:"total_price"`
	NmID        int64  `json:"nm_id"`
	Brand       string `json:"brand"`
	Status      int64  `json:"status"`
}

// Record is an order in the form it is stored, cached and served: its uid and
// creation time (the cache's ordering key) and its canonical JSON, the known
// fields only, encoded once.
type Record struct {
	UID         string
	DateCreated time.Time
	JSON        []byte
}

// NewestFirst compares two records in newest-first order, for
// slices.SortFunc: a later date_created first, ties broken by the greater uid.
func NewestFirst(a, b Record) int {
	switch {
	case a.Newer(b):
		return -1
	case b.Newer(a):
		return 1
	}
	return 0
}

// Newer reports whether r sorts before other in newest-first order: a later
// date_created first, ties broken by the greater uid.
func (r Record) Newer(other Record) bool {
	if !r.DateCreated.Equal(other.DateCreated) {
		return r.DateCreated.After(other.DateCreated)
	}
	return r.UID > other.UID
}
