package postgres

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// order_search has a partition per UTC month (migrations/007), and an order
// can be stored only in a month that has one. Every instance adds the
// partitions of the current month and the monthsAhead after it at start and
// every addMonthsEvery, so a month has its partition two months before its
// first order can arrive (validation refuses dates more than an hour ahead),
// and months the service was down for are added when it starts again.
const (
	monthsAhead    = 2
	addMonthsEvery = time.Hour
)

// addMonths adds the partitions missing up to monthsAhead months after now
// and returns how many it added.
func (s *Store) addMonths(ctx context.Context) (int, error) {
	c, err := s.db()
	if err != nil {
		return 0, err
	}
	var added int
	if err := c.sql.QueryRowContext(ctx, "SELECT order_search_add_months($1)", monthsAhead).Scan(&added); err != nil {
		return 0, fmt.Errorf("add the search partitions of the coming months: %w", err)
	}
	if added > 0 {
		s.log.Info("search partitions added", "months", added)
	}
	return added, nil
}

// monthKeeper calls addMonths every addMonthsEvery until stopped.
type monthKeeper struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func (s *Store) keepMonths() *monthKeeper {
	ctx, cancel := context.WithCancel(context.Background())
	k := &monthKeeper{cancel: cancel}
	k.wg.Go(func() {
		tick := time.NewTicker(addMonthsEvery)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			actx, cancel := context.WithTimeout(ctx, time.Minute)
			if _, err := s.addMonths(actx); err != nil && ctx.Err() == nil {
				// The next tick tries again; a month's partition is
				// needed only two months from now.
				s.log.Error("search partitions not added", "err", err)
			}
			cancel()
		}
	})
	return k
}

func (k *monthKeeper) stop() {
	k.cancel()
	k.wg.Wait()
}
