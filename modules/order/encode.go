//go:build !abtest_libjson && !abtest_libencode

package order

import (
	"bytes"
	"strconv"
	"sync"
	"unicode/utf8"
)

// encoder writes an order's canonical JSON: byte for byte what marshal (the
// standard library, HTML escaping off) gives for it: fields in declaration
// order, no white space, < > & as they are. Marshal's reflection cost as
// much as decoding the order did, on every message; FuzzFastDecode and
// TestCanonicalIsMarshal hold this to marshal's output. Each key is written
// with the punctuation before it.
type encoder struct{ b []byte }

func (e *encoder) str(key, v string) {
	e.b = append(e.b, key...)
	e.b = appendString(e.b, v)
}

func (e *encoder) int(key string, v int64) {
	e.b = append(e.b, key...)
	e.b = strconv.AppendInt(e.b, v, 10)
}

// scratch holds encoders' buffers between orders; canonical returns a copy
// of exactly the encoded length, since the cache keeps what it returns.
var scratch = sync.Pool{New: func() any { return &encoder{b: make([]byte, 0, 4096)} }}

// canonical is o's canonical JSON.
func canonical(o *Order) ([]byte, error) {
	e := scratch.Get().(*encoder)
	defer func() {
		if cap(e.b) <= 64<<10 { // a huge order's buffer is not worth keeping
			e.b = e.b[:0]
			scratch.Put(e)
		}
	}()
	e.b = e.b[:0]
	e.str(`{"order_uid":`, o.OrderUID)
	e.str(`,"track_number":`, o.TrackNumber)
	e.str(`,"entry":`, o.Entry)

	d := &o.Delivery
	e.str(`,"delivery":{"name":`, d.Name)
	e.str(`,"phone":`, d.Phone)
	e.str(`,"zip":`, d.Zip)
	e.str(`,"city":`, d.City)
	e.str(`,"address":`, d.Address)
	e.str(`,"region":`, d.Region)
	e.str(`,"email":`, d.Email)

	p := &o.Payment
	e.str(`},"payment":{"transaction":`, p.Transaction)
	e.str(`,"request_id":`, p.RequestID)
	e.str(`,"currency":`, p.Currency)
	e.str(`,"provider":`, p.Provider)
	e.int(`,"amount":`, p.Amount)
	e.int(`,"payment_dt":`, p.PaymentDt)
	e.str(`,"bank":`, p.Bank)
	e.int(`,"delivery_cost":`, p.DeliveryCost)
	e.int(`,"goods_total":`, p.GoodsTotal)
	e.int(`,"custom_fee":`, p.CustomFee)

	e.b = append(e.b, `},"items":`...)
	if o.Items == nil {
		e.b = append(e.b, "null"...)
	} else {
		e.b = append(e.b, '[')
		for i := range o.Items {
			it := &o.Items[i]
			if i > 0 {
				e.b = append(e.b, ',')
			}
			e.int(`{"chrt_id":`, it.ChrtID)
			e.str(`,"track_number":`, it.TrackNumber)
			e.int(`,"price":`, it.Price)
			e.str(`,"rid":`, it.Rid)
			e.str(`,"name":`, it.Name)
			e.int(`,"sale":`, it.Sale)
			e.str(`,"size":`, it.Size)
			e.int(`,"total_price":`, it.TotalPrice)
			e.int(`,"nm_id":`, it.NmID)
			e.str(`,"brand":`, it.Brand)
			e.int(`,"status":`, it.Status)
			e.b = append(e.b, '}')
		}
		e.b = append(e.b, ']')
	}

	e.str(`,"locale":`, o.Locale)
	e.str(`,"internal_signature":`, o.InternalSignature)
	e.str(`,"customer_id":`, o.CustomerID)
	e.str(`,"delivery_service":`, o.DeliveryService)
	e.str(`,"shardkey":`, o.ShardKey)
	e.int(`,"sm_id":`, o.SmID)
	date, err := o.DateCreated.MarshalJSON() // what Marshal calls
	if err != nil {
		return nil, err
	}
	e.b = append(e.b, `,"date_created":`...)
	e.b = append(e.b, date...)
	e.str(`,"oof_shard":`, o.OofShard)
	e.b = append(e.b, '}')
	return bytes.Clone(e.b), nil
}

// appendString appends s quoted. A string marshal would write as it is
// (printable ASCII but " and \, and valid UTF-8 other than U+2028 and
// U+2029), as nearly all are, is copied; any other is left to marshal.
func appendString(dst []byte, s string) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == '"' || c == '\\' {
				return appendMarshaled(dst, s)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || r == '\u2028' || r == '\u2029' {
			return appendMarshaled(dst, s)
		}
		i += size
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

func appendMarshaled(dst []byte, s string) []byte {
	quoted, _ := marshal(s) // a string always encodes
	return append(dst, quoted...)
}
