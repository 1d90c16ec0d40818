// Package fake makes marketplace orders for the producer, tests and
// benchmarks: realistic valid orders that pass order.DefaultRules().Parse, and deliberately
// broken messages that fail it in a known way.
package fake

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"math/rand"
	randv2 "math/rand/v2"
	"strconv"
	"time"

	"github.com/brianvoe/gofakeit/v6"

	"github.com/marketplace/orders/modules/order"
)

// Generator makes orders from one seed. The same seed and clock give the same
// sequence. A Generator is not safe for concurrent use.
type Generator struct {
	f   *gofakeit.Faker
	now func() time.Time
}

// Option changes how New builds a Generator.
type Option func(*Generator)

// WithClock makes date_created near now() instead of near the wall clock, so
// a sequence is reproducible to the byte.
func WithClock(now func() time.Time) Option {
	return func(g *Generator) { g.now = now }
}

// New returns a Generator whose sequence depends only on seed (and the clock).
func New(seed int64, opts ...Option) *Generator {
	// gofakeit.New folds the seed through math/rand's source, which keeps only
	// 31 bits of it and replaces 0 with a random seed; PCG keeps all 64 bits,
	// so distinct time-based seeds give distinct uids and 0 is reproducible.
	src := &pcgSource{pcg: randv2.NewPCG(uint64(seed), pcgStream)}
	g := &Generator{f: gofakeit.NewCustom(src), now: time.Now}
	for _, opt := range opts {
		opt(g)
	}
	return g
}

// pcgStream is PCG's second seed word; any fixed value will do.
const pcgStream = 0x6f72646572730a

// pcgSource adapts math/rand/v2's PCG to math/rand.Source64, which gofakeit
// v6 draws from.
type pcgSource struct{ pcg *randv2.PCG }

var _ rand.Source64 = (*pcgSource)(nil)

func (s *pcgSource) Uint64() uint64 { return s.pcg.Uint64() }
func (s *pcgSource) Int63() int64   { return int64(s.pcg.Uint64() >> 1) }
func (s *pcgSource) Seed(seed int64) {
	s.pcg.Seed(uint64(seed), pcgStream)
}

// The values orders are drawn from (never modified); currencies are ISO 4217
// codes.
var (
	currencies       = []string{"USD", "EUR", "RUB", "GBP", "KZT", "BYN", "AMD", "TRY"}
	providers        = []string{"wbpay", "applepay", "googlepay", "sbp", "card"}
	banks            = []string{"alpha", "sber", "tinkoff", "vtb", "raiffeisen", "gazprombank"}
	deliveryServices = []string{"meest", "cdek", "dhl", "boxberry", "pochta", "wb-courier"}
	locales          = []string{"en", "ru", "kk", "hy", "tr"}
	entries          = []string{"WBIL", "WBRU", "WBKZ"}
	sizes            = []string{"0", "XS", "S", "M", "L", "XL", "XXL", "38", "40", "42", "44"}
	sales            = []int64{0, 0, 0, 5, 10, 15, 20, 25, 30, 40, 50, 70}
	statuses         = []int64{202, 202, 200, 201, 203}
	deliveryCosts    = []int64{0, 0, 300, 500, 1000, 1500, 2000}
)

// UID returns a fresh order uid: 20 lower-case hex characters (80 random
// bits, so 100,000 of them collide with a chance below 10⁻¹⁴).
func (g *Generator) UID() string {
	var b [10]byte
	for i := range b {
		b[i] = byte(g.f.Uint64())
	}
	return hex.EncodeToString(b[:])
}

// upperAlnum returns n random characters of A-Z 0-9, like a track number's.
func (g *Generator) upperAlnum(n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[g.f.IntRange(0, len(alphabet)-1)]
	}
	return string(b)
}

// Order returns a realistic order that passes order.DefaultRules().Parse of its JSON.
func (g *Generator) Order() order.Order {
	f := g.f
	uid := g.UID()
	created := g.now().UTC().Truncate(time.Second).Add(-time.Duration(f.IntRange(0, 59)) * time.Second)
	entry := f.RandomString(entries)
	track := entry + "M" + g.upperAlnum(10)

	items := make([]order.Item, f.IntRange(1, 5))
	var goods int64
	for i := range items {
		price := int64(f.IntRange(50, 50_000))
		sale := sales[f.IntRange(0, len(sales)-1)]
		items[i] = order.Item{
			ChrtID:      int64(f.IntRange(1_000_000, 9_999_999)),
			TrackNumber: track,
			Price:       price,
			Rid:         g.UID(),
			Name:        f.ProductName(),
			Sale:        sale,
			Size:        f.RandomString(sizes),
			TotalPrice:  price * (100 - sale) / 100,
			NmID:        int64(f.IntRange(1_000_000, 9_999_999)),
			Brand:       f.Company(),
			Status:      statuses[f.IntRange(0, len(statuses)-1)],
		}
		goods += items[i].TotalPrice
	}
	deliveryCost := deliveryCosts[f.IntRange(0, len(deliveryCosts)-1)]
	var customFee int64
	if f.IntRange(0, 9) == 0 {
		customFee = int64(f.IntRange(1, 500))
	}
	var requestID string
	if f.Bool() {
		requestID = g.UID()
	}

	return order.Order{
		OrderUID:    uid,
		TrackNumber: track,
		Entry:       entry,
		Delivery: order.Delivery{
			Name:    f.Name(),
			Phone:   "+" + f.Numerify("1##########"),
			Zip:     f.Zip(),
			City:    f.City(),
			Address: f.Street(),
			Region:  f.State(),
			Email:   f.Email(),
		},
		Payment: order.Payment{
			Transaction:  uid,
			RequestID:    requestID,
			Currency:     f.RandomString(currencies),
			Provider:     f.RandomString(providers),
			Amount:       goods + deliveryCost + customFee,
			PaymentDt:    created.Unix() + int64(f.IntRange(0, 120)),
			Bank:         f.RandomString(banks),
			DeliveryCost: deliveryCost,
			GoodsTotal:   goods,
			CustomFee:    customFee,
		},
		Items:             items,
		Locale:            f.RandomString(locales),
		InternalSignature: "",
		CustomerID:        f.Username(),
		DeliveryService:   f.RandomString(deliveryServices),
		ShardKey:          strconv.Itoa(f.IntRange(0, 9)),
		SmID:              int64(f.IntRange(1, 100)),
		DateCreated:       created,
		OofShard:          strconv.Itoa(f.IntRange(1, 2)),
	}
}

// OrderJSON returns a fresh valid order as JSON, with its uid for the key.
func (g *Generator) OrderJSON() (uid string, raw []byte) {
	o := g.Order()
	return o.OrderUID, mustMarshal(o)
}

// breakages is how many kinds of broken message Invalid makes.
const breakages = 8

// Invalid returns a deliberately broken message: cut-off JSON, a JSON array,
// order_uid as a number, a fractional price, a required field missing, a
// negative amount, totals that do not add up, or a date_created a month
// ahead. key is the uid of the order it was made from; kind is what Rules.Parse
// reports for it ("decode" or "validation").
func (g *Generator) Invalid() (key string, raw []byte, kind string) {
	o := g.Order()
	raw, k := g.breakOrder(o, g.f.IntRange(0, breakages-1))
	return o.OrderUID, raw, string(k)
}

func (g *Generator) breakOrder(o order.Order, which int) ([]byte, order.Kind) {
	switch which {
	case 0: // not JSON: cut mid-object
		raw := mustMarshal(o)
		return raw[:len(raw)/2], order.KindDecode
	case 1:
		return mustMarshal([]order.Order{o}), order.KindDecode
	case 2:
		m := toMap(o)
		m["order_uid"] = g.f.IntRange(1, 1_000_000)
		return mustMarshal(m), order.KindDecode
	case 3: // minor units are integers
		m := toMap(o)
		m["items"].([]any)[0].(map[string]any)["price"] = json.Number("45.5")
		return mustMarshal(m), order.KindDecode
	case 4: // a required field missing
		m := toMap(o)
		switch g.f.IntRange(0, 3) {
		case 0:
			delete(m, "track_number")
		case 1:
			delete(m, "date_created")
		case 2:
			delete(m["delivery"].(map[string]any), "name")
		default:
			delete(m, "items")
		}
		return mustMarshal(m), order.KindValidation
	case 5:
		o.Payment.Amount = -o.Payment.Amount - 1
		return mustMarshal(o), order.KindValidation
	case 6: // totals that do not add up
		if g.f.Bool() {
			o.Payment.GoodsTotal++
			o.Payment.Amount++ // so only goods_total is wrong
		} else {
			o.Items[0].TotalPrice += 2 // past rounding either way
		}
		return mustMarshal(o), order.KindValidation
	default: // past any clock skew the service allows by default
		o.DateCreated = time.Now().Add(30 * 24 * time.Hour).UTC().Truncate(time.Second)
		return mustMarshal(o), order.KindValidation
	}
}

func toMap(o order.Order) map[string]any {
	var m map[string]any
	d := json.NewDecoder(bytes.NewReader(mustMarshal(o)))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		panic("fake: decode own order: " + err.Error())
	}
	return m
}

// mustMarshal encodes values built here from plain strings, numbers, maps and
// slices, which cannot fail to encode.
// mustMarshal writes v as the service stores it: json.Marshal's form without
// HTML escaping, so an order with < > & in it is kept as it came.
func mustMarshal(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic("fake: encode order: " + err.Error())
	}
	return bytes.TrimSuffix(b.Bytes(), []byte{'\n'})
}
