package engine

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
)

// BenchmarkNormIndexMemory reports the heap the normalised merge index holds
// per record, for 100,000 records with a value and a token each (as the ERP
// side of a pairing whose records tandem created), strings included: what a
// worker holds per link at rest beyond the SDK's own.
//
//	go test -run '^$' -bench NormIndexMemory -benchtime 3x ./engine/
func BenchmarkNormIndexMemory(b *testing.B) {
	const n = 100_000
	var perRecord float64
	for b.Loop() {
		before := heapInUse()
		idx := newNormIndex()
		for i := range n {
			// Strings of their own, as a feed's decoding makes them.
			idx.put(fmt.Sprintf("CU-%06d", i), fmt.Sprintf("dk3%07d", i), fmt.Sprintf("link/organisations/webcrm/%d", 100000+i))
		}
		after := heapInUse()
		perRecord = float64(after-before) / n
		runtime.KeepAlive(idx)
	}
	b.ReportMetric(perRecord, "heap-B/record")
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestAKeyIndexFollowsEachRecordsLatestKey: ids share a key, move to
// another, and leave on an empty key; a key without ids is gone.
func TestAKeyIndexFollowsEachRecordsLatestKey(t *testing.T) {
	x := newKeyIndex()
	x.set("1", "dk31000001")
	x.set("2", "dk31000001")
	x.set("3", "dk31000003")
	assert.ElementsMatch(t, []string{"1", "2"}, x.ids("dk31000001"))

	x.set("1", "dk31000003")
	x.set("1", "dk31000003")
	assert.Equal(t, []string{"2"}, x.ids("dk31000001"))
	assert.ElementsMatch(t, []string{"3", "1"}, x.ids("dk31000003"))

	x.set("2", "")
	assert.Empty(t, x.ids("dk31000001"))
	assert.NotContains(t, x.byKey, "dk31000001")
	assert.NotContains(t, x.keyOf, "2")
	assert.Len(t, x.keyOf, 2)
}

// TestATokenSetKnowsWhichTokensAreCarried: a token is carried while some
// record carries it, whatever its case; a record's new token replaces its
// old one.
func TestATokenSetKnowsWhichTokensAreCarried(t *testing.T) {
	s := newTokenSet()
	s.set("1", "link/organisations/erp/CU-1")
	s.set("2", "link/organisations/erp/CU-1") // a duplicate carries it too
	s.set("3", "link/organisations/erp/CU-3")
	assert.True(t, s.carried("LINK/organisations/erp/cu-1"))

	s.set("1", "")
	assert.True(t, s.carried("link/organisations/erp/CU-1"), "record 2 still carries it")
	s.set("2", "link/organisations/erp/CU-2")
	assert.False(t, s.carried("link/organisations/erp/CU-1"))
	assert.True(t, s.carried("link/organisations/erp/CU-2"))
	s.set("3", "link/organisations/erp/CU-3")
	assert.True(t, s.carried("link/organisations/erp/CU-3"))
	assert.False(t, s.carried("link/organisations/erp/CU-4"))
	assert.Len(t, s.hashOf, 2)
	assert.Len(t, s.holders, 2)
}
