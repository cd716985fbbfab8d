package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"sort"
	"strings"
)

// bench is one `jarvis bench <name>` command: a measurement too long or too
// heavy for `go test` (100k vectors, 10k sockets). Each lives in its own
// bench_<name>.go file and registers itself here.
type bench struct {
	summary string
	run     func(ctx context.Context, args []string, stdout io.Writer) error
}

var benches = map[string]bench{}

func registerBench(name, summary string, run func(ctx context.Context, args []string, stdout io.Writer) error) {
	benches[name] = bench{summary: summary, run: run}
}

func benchUsage() string {
	names := make([]string, 0, len(benches))
	for n := range benches {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("usage: jarvis bench <name> [flags]\n\nbenchmarks:\n")
	for _, n := range names {
		fmt.Fprintf(&b, "  %-8s %s\n", n, benches[n].summary)
	}
	return b.String()
}

func runBench(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return usageError(benchUsage())
	}
	b, ok := benches[args[0]]
	if !ok {
		return usageError(benchUsage())
	}
	return b.run(ctx, args[1:], stdout)
}

// freeLoopbackPort asks the system for a port the bench's own child server
// can listen on (it runs as a separate process, so PORT=0 cannot tell us).
func freeLoopbackPort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
