//go:build abtest_libjson || abtest_libencode

package order

// This file and the build tags abtest_libjson and abtest_libencode are for
// the A/B of the hand-written JSON paths against the library
// (app/bench_ab_test.go, BENCHMARKS.md): with either tag the canonical JSON
// comes from marshal, and with abtest_libjson every message goes through
// decode, the full decoder.

// canonical is o's canonical JSON, as the library writes it.
func canonical(o *Order) ([]byte, error) { return marshal(o) }
