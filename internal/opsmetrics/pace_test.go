package opsmetrics

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestARefreshThatTakesLongIsMadeLessOften(t *testing.T) {
	for _, tc := range []struct {
		took, want time.Duration
	}{
		{took: 200 * time.Millisecond, want: 30 * time.Second}, // a few thousand links: as asked
		{took: 3 * time.Second, want: 30 * time.Second},        // exactly a tenth of the time
		{took: 6 * time.Second, want: time.Minute},             // 100,000 links on SQLite visibility
		{took: time.Minute, want: 10 * time.Minute},            // a refresh longer than the interval
	} {
		assert.Equal(t, tc.want, nextRefresh(30*time.Second, tc.took), "a refresh of %s", tc.took)
	}
}
