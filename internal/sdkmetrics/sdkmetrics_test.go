package sdkmetrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

func TestHandlerRecordsIntoRegistryWithTags(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := New(reg).WithTags(map[string]string{"namespace": "default", "task_queue": "tandem", "unknown_tag": "dropped"})
	h.Counter("temporal_request").Inc(2)
	h.Counter("temporal_request").Inc(3)
	h.Gauge("temporal_num_pollers").Update(4)
	h.Timer("temporal_request_latency").Record(250 * time.Millisecond)

	want := `
# HELP temporal_request Temporal SDK counter temporal_request.
# TYPE temporal_request counter
temporal_request{activity_type="",cause="",failure_reason="",namespace="default",nexus_operation="",nexus_service="",operation="",poller_type="",task_queue="tandem",worker_type="",workflow_type=""} 5
`
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(want), "temporal_request"))
	n, err := testutil.GatherAndCount(reg, "temporal_num_pollers", "temporal_request_latency_seconds")
	require.NoError(t, err)
	require.Equal(t, 2, n)
}

func TestWithTagsDoesNotChangeTheParent(t *testing.T) {
	reg := prometheus.NewRegistry()
	parent := New(reg).WithTags(map[string]string{"namespace": "a"})
	_ = parent.WithTags(map[string]string{"namespace": "b"})
	parent.Counter("c").Inc(1)
	want := `
# HELP c Temporal SDK counter c.
# TYPE c counter
c{activity_type="",cause="",failure_reason="",namespace="a",nexus_operation="",nexus_service="",operation="",poller_type="",task_queue="",worker_type="",workflow_type=""} 1
`
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(want), "c"))
}
