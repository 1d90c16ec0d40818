// Package views renders the service's HTML pages. Components take the view
// models below, already formatted for people, and only lay them out: no
// lookups, no arithmetic, no imports from the service's modules. templ escapes
// every value, so order data is never trusted as markup.
package views

// Page is what every page shares: its language, the link to the same page
// in the other language, and what the search box holds.
type Page struct {
	Lang string // LangEN or LangRU
	// SwitchHref is this page in the other language; SwitchLabel names it
	// in that language.
	SwitchHref  string
	SwitchLabel string
	SwitchLang  string
	// Query refills the search box.
	Query string
	// FocusSearch puts the cursor in the search box as the page opens.
	FocusSearch bool
}

// OrderRow is one order in a list: enough to recognise it, a link to all.
type OrderRow struct {
	UID         string
	Href        string
	Created     string
	CreatedISO  string
	Customer    string
	Amount      string
	Items       string
	TrackNumber string
}

// HomeView is the landing page: the search box and the newest orders.
type HomeView struct {
	Page
	Orders []OrderRow
	// ExampleUID and ExampleHref point at the reference order when the list
	// is empty, so a new user has something to click.
	ExampleUID  string
	ExampleHref string
	// LiveSrc is the event stream that refreshes the list; empty for none.
	LiveSrc string
}

// ResultsView is a search that matched several orders, the newest first.
type ResultsView struct {
	Page
	Orders []OrderRow
}

// OrderView is one order, every value already formatted for display.
type OrderView struct {
	Page
	UID         string
	TrackNumber string
	Created     string // UTC, e.g. "2021-11-26 06:22:19 UTC"
	CreatedISO  string // for the datetime attribute, RFC 3339
	CustomerID  string
	Amount      string
	// Status is each status of the items, a code with its name where the
	// name is known, e.g. "202 Accepted, 201"; StatusClass picks its
	// colour.
	Status      string
	StatusClass string
	// SourceNote says quietly whether the cache or the database answered.
	SourceNote string
	// JSONHref links to the same order from the API.
	JSONHref string

	Delivery  DeliveryView
	Payment   PaymentView
	Items     []ItemView
	ItemTotal string
	Technical []Field
}

// Field is one labelled value. Raw labels it with the order's own field
// name (chrt_id), shown as code, where no word says more.
type Field struct {
	Label string
	Value string
	Raw   bool
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
// e.g. "1,018.17 USD".
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

// ItemView is one line of the order.
type ItemView struct {
	Name       string
	Brand      string
	Size       string
	Price      string
	Sale       string // e.g. "30%"
	TotalPrice string
	Status     string // e.g. "202 Accepted" or "201"
	// Technical are the ids a person rarely needs: chrt id, nm id, rid,
	// track number.
	Technical []Field
}

// ParkedView is the read-only list of parked (dead-letter) messages.
type ParkedView struct {
	Page
	// Kinds are the filters: every kind, then each kind, with its count.
	Kinds    []KindFilter
	Messages []ParkedRow
	// Empty says why no message is listed.
	Empty string
	// Unavailable says this server cannot list them.
	Unavailable bool
	// NewestHref leads back to the first page, MoreHref on to older ones.
	NewestHref string
	MoreHref   string
}

// KindFilter links to the messages of one kind (or of every kind).
type KindFilter struct {
	Label   string
	Title   string // what the kind means
	Class   string // "all", "decode", "validation", "conflict"
	Count   string
	Href    string
	Current bool
}

// ParkedRow is one parked message, every value ready to show.
type ParkedRow struct {
	Kind      string // in words
	KindClass string // "decode", "validation", "conflict" or "other"
	Reason    Text   // field paths and values set apart
	Source    Text   // "orders, partition 2, offset 95"
	// ReplayOf says which parked message this one is a replay of; empty
	// when it is not one.
	ReplayOf Text
	Time     string
	TimeISO  string
	Key      string
	// Body is the message, pretty-printed when it is JSON, clipped;
	// BodyLabel names it with its size.
	Body      string
	BodyLabel string
}

// ErrorView is a page that could not show an order.
type ErrorView struct {
	Page
	Status int
	Title  string
	Detail Text
}
