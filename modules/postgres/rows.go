package postgres

import (
	"time"

	"github.com/marketplace/orders/modules/order"
)

// The row types mirror migrations/001_init.sql. They are kept apart from the
// domain types so that the schema and the JSON shape can change separately.

type orderRow struct {
	OrderUID          string    `gorm:"column:order_uid;primaryKey"`
	TrackNumber       string    `gorm:"column:track_number"`
	Entry             string    `gorm:"column:entry"`
	Locale            string    `gorm:"column:locale"`
	InternalSignature string    `gorm:"column:internal_signature"`
	CustomerID        string    `gorm:"column:customer_id"`
	DeliveryService   string    `gorm:"column:delivery_service"`
	ShardKey          string    `gorm:"column:shardkey"`
	SmID              int64     `gorm:"column:sm_id"`
	DateCreated       time.Time `gorm:"column:date_created"`
	OofShard          string    `gorm:"column:oof_shard"`
	Raw               []byte    `gorm:"column:raw;type:jsonb"`
}

func (orderRow) TableName() string { return "orders" }

type deliveryRow struct {
	OrderUID string `gorm:"column:order_uid;primaryKey"`
	Name     string `gorm:"column:name"`
	Phone    string `gorm:"column:phone"`
	Zip      string `gorm:"column:zip"`
	City     string `gorm:"column:city"`
	Address  string `gorm:"column:address"`
	Region   string `gorm:"column:region"`
	Email    string `gorm:"column:email"`
}

func (deliveryRow) TableName() string { return "deliveries" }

type paymentRow struct {
	OrderUID     string `gorm:"column:order_uid;primaryKey"`
	Transaction  string `gorm:"column:transaction"`
	RequestID    string `gorm:"column:request_id"`
	Currency     string `gorm:"column:currency"`
	Provider     string `gorm:"column:provider"`
	Amount       int64  `gorm:"column:amount"`
	PaymentDt    int64  `gorm:"column:payment_dt"`
	Bank         string `gorm:"column:bank"`
	DeliveryCost int64  `gorm:"column:delivery_cost"`
	GoodsTotal   int64  `gorm:"column:goods_total"`
	CustomFee    int64  `gorm:"column:custom_fee"`
}

func (paymentRow) TableName() string { return "payments" }

type itemRow struct {
	OrderUID    string `gorm:"column:order_uid;primaryKey"`
	Position    int    `gorm:"column:position;primaryKey;autoIncrement:false"`
	ChrtID      int64  `gorm:"column:chrt_id"`
	TrackNumber string `gorm:"column:track_number"`
	Price       int64  `gorm:"column:price"`
	Rid         string `gorm:"column:rid"`
	Name        string `gorm:"column:name"`
	Sale        int64  `gorm:"column:sale"`
	Size        string `gorm:"column:size"`
	TotalPrice  int64  `gorm:"column:total_price"`
	NmID        int64  `gorm:"column:nm_id"`
	Brand       string `gorm:"column:brand"`
	Status      int64  `gorm:"column:status"`
}

func (itemRow) TableName() string { return "items" }

// rows holds one batch's new orders, table by table.
type rows struct {
	orders     []orderRow
	deliveries []deliveryRow
	payments   []paymentRow
	items      []itemRow
}

func (r *rows) add(p order.Parsed) {
	o := p.Order
	r.orders = append(r.orders, orderRow{
		OrderUID:          o.OrderUID,
		TrackNumber:       o.TrackNumber,
		Entry:             o.Entry,
		Locale:            o.Locale,
		InternalSignature: o.InternalSignature,
		CustomerID:        o.CustomerID,
		DeliveryService:   o.DeliveryService,
		ShardKey:          o.ShardKey,
		SmID:              o.SmID,
		DateCreated:       o.DateCreated,
		OofShard:          o.OofShard,
		Raw:               p.JSON,
	})
	d := o.Delivery
	r.deliveries = append(r.deliveries, deliveryRow{
		OrderUID: o.OrderUID,
		Name:     d.Name,
		Phone:    d.Phone,
		Zip:      d.Zip,
		City:     d.City,
		Address:  d.Address,
		Region:   d.Region,
		Email:    d.Email,
	})
	pm := o.Payment
	r.payments = append(r.payments, paymentRow{
		OrderUID:     o.OrderUID,
		Transaction:  pm.Transaction,
		RequestID:    pm.RequestID,
		Currency:     pm.Currency,
		Provider:     pm.Provider,
		Amount:       pm.Amount,
		PaymentDt:    pm.PaymentDt,
		Bank:         pm.Bank,
		DeliveryCost: pm.DeliveryCost,
		GoodsTotal:   pm.GoodsTotal,
		CustomFee:    pm.CustomFee,
	})
	for i, it := range o.Items {
		r.items = append(r.items, itemRow{
			OrderUID:    o.OrderUID,
			Position:    i,
			ChrtID:      it.ChrtID,
			TrackNumber: it.TrackNumber,
			Price:       it.Price,
			Rid:         it.Rid,
			Name:        it.Name,
			Sale:        it.Sale,
			Size:        it.Size,
			TotalPrice:  it.TotalPrice,
			NmID:        it.NmID,
			Brand:       it.Brand,
			Status:      it.Status,
		})
	}
}
