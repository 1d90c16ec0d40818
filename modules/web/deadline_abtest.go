//go:build abtest_fasthttpdeadline

package web

import "net"

// With the build tag abtest_fasthttpdeadline, connections are served as
// accepted and fasthttp arms every read and write deadline itself, in place
// of deadline.go's coarse deadlines: the A/B of app/bench_ab_test.go
// (BENCHMARKS.md).
type coarseListener struct{ net.Listener }
