package webcrm

import (
	"context"
	"testing"
	"time"

	"github.com/tandemsync/tandem/simulators/webcrm/webcrmsim"
)

// BenchmarkListAll measures a full list of the simulator's organisations at Size=1000
// over real HTTP on 127.0.0.1 (limiter and simulator rate limit off), and reports
// records/s and requests per full list.
func BenchmarkListAll(b *testing.B) {
	env := newSimEnv(b, webcrmsim.Options{Seed: 11, SeedSize: 5000}, nil)
	want := len(env.sim.Records("Organisations"))
	ctx := context.Background()
	if _, err := env.c.List(ctx, Organisations, 1, 1); err != nil { // log in outside the timer
		b.Fatal(err)
	}
	env.resetStats(b)
	total, iterations := 0, 0
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		n := 0
		err := env.c.ListAll(ctx, Organisations, MaxPageSize, func(page []Record) error {
			n += len(page)
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		if n != want {
			b.Fatalf("listed %d of %d records", n, want)
		}
		total += n
		iterations++
	}
	elapsed := time.Since(start)
	b.ReportMetric(float64(total)/elapsed.Seconds(), "records/s")
	b.ReportMetric(float64(env.stats(b).RequestCount("GET /Organisations"))/float64(iterations), "requests/op")
}
