package main

import "sync"

// fanOut calls fn(i) for every i in [0, n), at most limit at a time, and
// returns when all have returned. The commands use it to ask or drive many
// links without flooding the Temporal frontend.
func fanOut(n, limit int, fn func(i int)) {
	sem := make(chan struct{}, max(limit, 1))
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			fn(i)
		})
	}
	wg.Wait()
}
