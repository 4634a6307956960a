package webcrmsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// benchEnv serves a seeded simulator (no rate limit) over real HTTP and
// returns its base URL and a bearer token.
func benchEnv(b *testing.B, size int) (*Server, string, string) {
	b.Helper()
	sim, err := New(Options{APIToken: testAPIToken, Seed: 1, SeedSize: size, RateLimitPerMinute: -1, Logger: quietLogger()})
	require.NoError(b, err)
	srv := httptest.NewServer(sim)
	b.Cleanup(func() {
		srv.Close()
		_ = sim.Close()
	})
	return sim, srv.URL, benchLogin(b, srv.URL)
}

func benchLogin(b *testing.B, base string) string {
	resp, err := http.PostForm(base+"/Auth/ApiLogin", url.Values{"authCode": {testAPIToken}})
	require.NoError(b, err)
	var tok tokenResponse
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(b, json.Unmarshal(raw, &tok))
	return tok.AccessToken
}

func benchGet(b *testing.B, client *http.Client, u, token string) []byte {
	req, _ := http.NewRequest("GET", u, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		b.Fatalf("GET %s: %d %v", u, resp.StatusCode, err)
	}
	return body
}

// BenchmarkList pages through all 5,000 seeded organisations at Size=1000
// over HTTP (the body is read, not decoded) and reports records/s.
func BenchmarkList(b *testing.B) {
	sim, base, token := benchEnv(b, 5000)
	client := &http.Client{}
	total := sim.Count("Organisations")
	records := 0
	for b.Loop() {
		for page := 1; ; page++ {
			body := benchGet(b, client, fmt.Sprintf("%s/Organisations?Page=%d&Size=1000", base, page), token)
			n := bytes.Count(body, []byte(`"OrganisationId":`))
			records += n
			if n < 1000 {
				break
			}
		}
	}
	require.Equal(b, total*b.N, records)
	b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkConcurrentRequests runs 4 concurrent clients against 2,000
// seeded organisations: 90% GET /Organisations/{id}, 10% PUT of the same
// record. It reports the median and 99th percentile latency per request.
func BenchmarkConcurrentRequests(b *testing.B) {
	sim, base, token := benchEnv(b, 2000)
	n := sim.Count("Organisations")
	bodies := make([][]byte, n+1)
	for id := 1; id <= n; id++ {
		rec, _ := sim.Record("Organisations", id)
		delete(rec, "OrganisationCreatedAt")
		delete(rec, "OrganisationUpdatedAt")
		bodies[id], _ = json.Marshal(rec)
	}
	const clients = 4
	var next atomic.Int64
	lat := make([][]time.Duration, clients)
	b.ResetTimer()
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(c), 9))
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
			for next.Add(1) <= int64(b.N) {
				id := 1 + rng.IntN(n)
				var req *http.Request
				if rng.IntN(10) == 0 {
					req, _ = http.NewRequest("PUT", fmt.Sprintf("%s/Organisations/%d", base, id), bytes.NewReader(bodies[id]))
					req.Header.Set("Content-Type", "application/json")
				} else {
					req, _ = http.NewRequest("GET", fmt.Sprintf("%s/Organisations/%d", base, id), nil)
				}
				req.Header.Set("Authorization", "Bearer "+token)
				start := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				lat[c] = append(lat[c], time.Since(start))
				if resp.StatusCode != 200 {
					b.Errorf("status %d", resp.StatusCode)
					return
				}
			}
		}()
	}
	wg.Wait()
	all := slices.Concat(lat...)
	slices.Sort(all)
	if len(all) > 0 {
		b.ReportMetric(float64(all[len(all)/2].Nanoseconds()), "ns/req-p50")
		b.ReportMetric(float64(all[len(all)*99/100].Nanoseconds()), "ns/req-p99")
	}
	b.ReportMetric(float64(len(all))/b.Elapsed().Seconds(), "req/s")
}

// BenchmarkSeedMillion generates about one million records (160,000
// organisations with their persons, opportunities and lines) and reports
// the time, the heap per record, and the latency of a cold and a cached
// watermark query page over HTTP.
func BenchmarkSeedMillion(b *testing.B) {
	const size = 160_000
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		start := time.Now()
		sim, err := New(Options{APIToken: testAPIToken, Seed: 1, SeedSize: size, RateLimitPerMinute: -1, Logger: quietLogger()})
		require.NoError(b, err)
		seedTime := time.Since(start)
		runtime.GC()
		runtime.ReadMemStats(&after)
		records := 0
		for _, e := range Entities() {
			records += sim.Count(e)
		}
		srv := httptest.NewServer(sim)
		token := benchLogin(b, srv.URL)
		q := srv.URL + "/Queries?Size=1000&script=" + url.QueryEscape("SELECT * FROM Person WHERE PersonUpdatedAt >= '2024-01-01T00:00:00Z' ORDER BY PersonUpdatedAt ASC")
		client := &http.Client{}
		start = time.Now()
		benchGet(b, client, q+"&Page=1", token)
		cold := time.Since(start)
		start = time.Now()
		benchGet(b, client, q+"&Page=2", token)
		warm := time.Since(start)
		srv.Close()
		require.NoError(b, sim.Close())

		b.ReportMetric(float64(records), "records")
		b.ReportMetric(seedTime.Seconds(), "seed-s")
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(records), "heap-B/record")
		b.ReportMetric(float64(cold.Milliseconds()), "query-cold-ms")
		b.ReportMetric(float64(warm.Milliseconds()), "query-cached-ms")
	}
}
