package postgres

import (
	"context"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/marketplace/orders/modules/postgres/pgtest"
)

func TestUIDListReachesServerIntact(t *testing.T) {
	conn, err := pgx.Connect(t.Context(), pgtest.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.WithoutCancel(t.Context()))

	tests := []struct {
		name string
		give uidList
	}{
		{"plain uids", uidList{"b563feb7b2b84b6test", "a-b_c"}},
		{"characters the array syntax uses", uidList{`a"b`, `c\d`, "e,f", "{g}", " h ", "NULL", ""}},
		{"one", uidList{"x"}},
		{"none", uidList{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			if err := conn.QueryRow(t.Context(), "SELECT coalesce(array_agg(u ORDER BY n), '{}') FROM unnest($1::text[]) WITH ORDINALITY AS t(u, n)", tt.give).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, []string(tt.give)) {
				t.Errorf("server saw %q, want %q", got, tt.give)
			}
		})
	}
}
