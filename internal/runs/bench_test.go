package runs

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/jarvis-core/jarvis/ent/agentrun"
	"github.com/jarvis-core/jarvis/internal/runs/pricing"
)

// BenchmarkRecordLLMCall records LLM calls, each with its run's totals, from
// 32 concurrent writers (32 pooled connections) on one run, where every call
// waits for the run's row lock, and on 32 runs, where they don't. It reports
// calls/s and the p99 latency of one call.
//
//	go test -run '^$' -bench RecordLLMCall -benchtime 3000x ./internal/runs
func BenchmarkRecordLLMCall(b *testing.B) {
	const writers = 32
	for _, runs := range []int{1, writers} {
		b.Run(fmt.Sprintf("writers=%d/runs=%d", writers, runs), func(b *testing.B) {
			e := setup(b, withPoolSize(writers))
			ctx := as(e.alice)
			ids := make([]uuid.UUID, runs)
			for i := range ids {
				ids[i] = e.runIn(b, e.alice, agentrun.StatusRunning).ID
			}
			in := LLMCallInput{Provider: "openai", Model: "gpt-5-mini",
				Usage: pricing.Usage{Input: 1200, CachedInput: 800, Output: 300, Reasoning: 128}}
			// Warm the pool so connection set-up is not measured.
			for i := range writers {
				if _, err := e.svc.RecordLLMCall(ctx, ids[i%runs], in); err != nil {
					b.Fatal(err)
				}
			}
			var (
				mu        sync.Mutex
				latencies = make([]time.Duration, 0, b.N)
				wg        sync.WaitGroup
				next      = make(chan int)
			)
			b.ResetTimer()
			start := time.Now()
			for w := range writers {
				wg.Go(func() {
					var mine []time.Duration
					for range next {
						t0 := time.Now()
						if _, err := e.svc.RecordLLMCall(ctx, ids[w%runs], in); err != nil {
							b.Error(err)
							return
						}
						mine = append(mine, time.Since(t0))
					}
					mu.Lock()
					latencies = append(latencies, mine...)
					mu.Unlock()
				})
			}
			for i := range b.N {
				next <- i
			}
			close(next)
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			slices.Sort(latencies)
			if len(latencies) == 0 {
				b.Fatal("no calls")
			}
			p99 := latencies[min(len(latencies)-1, len(latencies)*99/100)]
			b.ReportMetric(float64(len(latencies))/elapsed.Seconds(), "calls/s")
			b.ReportMetric(float64(p99.Microseconds())/1000, "p99_ms")
			b.ReportMetric(float64(latencies[len(latencies)/2].Microseconds())/1000, "p50_ms")
			// The totals still add up after the storm.
			r := e.reload(b, ids[0])
			perCall := in.Usage.Total()
			if r.TotalTokens%perCall != 0 || r.TotalTokens == 0 {
				b.Fatalf("run totals %d are not a multiple of %d", r.TotalTokens, perCall)
			}
		})
	}
}
