package erpsim_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tandemsync/tandem/customerp"
	"github.com/tandemsync/tandem/simulators/customerp/erpsim"
)

type idVersion struct {
	id      string
	version int64
}

// TestFeedUnderConcurrentWriters: 8 writers × 200 writes on a file database while a reader
// follows the feed; the reader sees every acknowledged change exactly once, in commit order.
func TestFeedUnderConcurrentWriters(t *testing.T) {
	t.Parallel()
	h := start(t, erpsim.Options{DBPath: filepath.Join(t.TempDir(), "erp.db")})
	// A client without contract validation: the point here is ordering, and the other tests
	// check the traffic against openapi.yaml.
	c, err := customerp.New(customerp.Config{BaseURL: h.hs.URL, APIKey: key, RetryMax: -1})
	require.NoError(t, err)
	h.c = c
	ctx := context.Background()
	const writers, perWriter = 8, 200

	var (
		ackMu sync.Mutex
		acked = map[idVersion]bool{}
	)
	ack := func(id string, v int64) {
		ackMu.Lock()
		defer ackMu.Unlock()
		acked[idVersion{id, v}] = true
	}
	var done atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if w%2 == 1 { // creates only
				for i := 0; i < perWriter; i++ {
					rec, err := h.c.Create(ctx, customerp.Customers, customerp.Record{"name": fmt.Sprintf("W%d-%d", w, i)}, fmt.Sprintf("w%d-%d", w, i))
					if err != nil {
						errs <- err
						return
					}
					id, _ := rec.ID()
					ack(id, 1)
				}
				return
			}
			// one record: create, updates, delete
			rec, err := h.c.Create(ctx, customerp.Customers, customerp.Record{"name": fmt.Sprintf("W%d", w)}, fmt.Sprintf("w%d", w))
			if err != nil {
				errs <- err
				return
			}
			id, _ := rec.ID()
			ack(id, 1)
			v := int64(1)
			for i := 1; i < perWriter-1; i++ {
				rec["name"] = fmt.Sprintf("W%d v%d", w, i)
				out, err := h.c.Update(ctx, customerp.Customers, id, rec, v)
				if err != nil {
					errs <- err
					return
				}
				v, _ = out.Version()
				ack(id, v)
			}
			if err := h.c.Delete(ctx, customerp.Customers, id); err != nil {
				errs <- err
				return
			}
			ack(id, v+1)
		}()
	}
	var seen []customerp.Change
	readerDone := make(chan error, 1)
	go func() {
		since := ""
		for {
			finished := done.Load()
			chs, next, err := h.c.Changes(ctx, customerp.Customers, since, 50)
			if err != nil {
				readerDone <- err
				return
			}
			seen = append(seen, chs...)
			since = next
			if len(chs) == 0 {
				if finished {
					readerDone <- nil
					return
				}
				time.Sleep(time.Millisecond)
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	done.Store(true)
	select {
	case err := <-readerDone:
		require.NoError(t, err)
	case <-time.After(60 * time.Second):
		t.Fatal("the reader did not catch up")
	}

	require.Len(t, acked, writers*perWriter)
	require.Len(t, seen, writers*perWriter, "every acknowledged change once, nothing else")
	last := int64(0)
	lastAt := time.Time{}
	got := map[idVersion]bool{}
	versions := map[string]int64{}
	for _, c := range seen {
		seq, err := strconv.ParseInt(c.Seq, 10, 64)
		require.NoError(t, err)
		require.Greater(t, seq, last, "seq strictly increasing")
		last = seq
		require.False(t, c.UpdatedAt.Before(lastAt), "updatedAt never goes back along the feed")
		lastAt = c.UpdatedAt
		k := idVersion{c.ID, c.Version}
		require.False(t, got[k], "change %v delivered twice", k)
		got[k] = true
		require.True(t, acked[k], "change %v was never acknowledged", k)
		require.Equal(t, versions[c.ID]+1, c.Version, "versions of %s arrive in order", c.ID)
		versions[c.ID] = c.Version
	}
	deleted := 0
	for _, c := range seen {
		if c.Deleted {
			deleted++
		}
	}
	assert.Equal(t, writers/2, deleted)
}
