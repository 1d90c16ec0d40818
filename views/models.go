// Package views renders the service's HTML pages. Components take the view
// models below, already formatted for people, and only lay them out: no
// lookups, no arithmetic, no imports from the service's modules. templ escapes
// every value, so order data is never trusted as markup.
package views

// SearchView is the bare search page.
type SearchView struct {
	// Query refills the search box.
	Query string
}

// OrderView is one order, every value already formatted for display.
type OrderView struct {
	UID             string
	TrackNumber     string
	Entry           string
	Created         string // for people, e.g. "2021-11-26 06:22:19 UTC"
	CreatedISO      string // for the datetime attribute, RFC 3339
	CustomerID      string
	Locale          string
	DeliveryService string
	ShardKey        string
	SmID            string
	OofShard        string
	// JSONHref links to the same order from the API.
	JSONHref string

	Delivery DeliveryView
	Payment  PaymentView
	Items    []ItemView
}

// DeliveryView is where the order goes.
type DeliveryView struct {
	Name    string
	Phone   string
	Email   string
	Address string
	City    string
	Region  string
	Zip     string
}

// PaymentView is how the order was paid; amounts carry their currency,
// e.g. "18.17 USD".
type PaymentView struct {
	Transaction  string
	RequestID    string
	Provider     string
	Bank         string
	Currency     string
	PaidAt       string
	PaidAtISO    string
	GoodsTotal   string
	DeliveryCost string
	CustomFee    string
	Amount       string
}

// ItemView is one row of the items table.
type ItemView struct {
	Name        string
	Brand       string
	Size        string
	Price       string
	Sale        string // e.g. "30%"
	TotalPrice  string
	ChrtID      string
	NmID        string
	Rid         string
	TrackNumber string
	Status      string
}

// ErrorView is a page that could not show an order.
type ErrorView struct {
	Status int
	Title  string
	Detail string
	// Query is what the user typed, put back into the search box so they can
	// correct it.
	Query string
}
