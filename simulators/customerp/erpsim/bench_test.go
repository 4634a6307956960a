package erpsim_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tandemsync/tandem/customerp"
	"github.com/tandemsync/tandem/simulators/customerp/erpsim"
)

// startPlain is start with a client that does not validate traffic against the contract, so
// that benchmarks measure the server and the client, not kin-openapi.
func startPlain(b *testing.B, opts erpsim.Options) *harness {
	h := start(b, opts)
	c, err := customerp.New(customerp.Config{BaseURL: h.hs.URL, APIKey: key, RetryMax: -1})
	require.NoError(b, err)
	h.c = c
	return h
}

// BenchmarkWrites measures creates per second over HTTP, from parallel clients, on a file
// database with synchronous=FULL and in memory.
func BenchmarkWrites(b *testing.B) {
	for _, mode := range []string{"file", "memory"} {
		b.Run(mode, func(b *testing.B) {
			opts := erpsim.Options{}
			if mode == "file" {
				opts.DBPath = filepath.Join(b.TempDir(), "erp.db")
			}
			h := startPlain(b, opts)
			ctx := context.Background()
			var i atomic.Int64
			b.SetParallelism(4)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					k := i.Add(1)
					_, err := h.c.Create(ctx, customerp.Customers, customerp.Record{"name": fmt.Sprintf("Kunde %d", k),
						"organisationNumber": fmt.Sprintf("DK%08d", k)}, fmt.Sprintf("bench-%d", k))
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
		})
	}
}

// BenchmarkFeed measures change feed records per second over HTTP (pages of 1000) from a file
// database.
func BenchmarkFeed(b *testing.B) {
	h := startPlain(b, erpsim.Options{DBPath: filepath.Join(b.TempDir(), "erp.db")})
	ctx := context.Background()
	require.NoError(b, h.srv.SeedData(ctx, 1, 5000))
	records := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		since := ""
		for {
			chs, next, err := h.c.Changes(ctx, customerp.Contacts, since, 1000)
			require.NoError(b, err)
			if len(chs) == 0 {
				break
			}
			records += len(chs)
			since = next
		}
	}
	b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkFindByLookupKey measures look-ups by a look-up key (as matching does
// before it creates a counterpart) at two store sizes side by side: a look-up must not
// cost more the more customers there are.
func BenchmarkFindByLookupKey(b *testing.B) {
	for _, size := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("customers=%d", size), func(b *testing.B) {
			h := startPlain(b, erpsim.Options{DBPath: filepath.Join(b.TempDir(), "erp.db")})
			ctx := context.Background()
			for i := range size {
				_, err := h.c.Create(ctx, customerp.Customers, customerp.Record{"name": fmt.Sprintf("Kunde %d", i),
					"organisationNumber": fmt.Sprintf("DK%08d", i)}, fmt.Sprintf("seed-%d", i))
				require.NoError(b, err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				// Half the look-ups find a customer, half find none (a record to create).
				recs, err := h.c.Find(ctx, customerp.Customers, "organisationNumber", fmt.Sprintf("DK%08d", i%(2*size)))
				require.NoError(b, err)
				require.Equal(b, i%(2*size) < size, len(recs) == 1)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lookups/s")
		})
	}
}
