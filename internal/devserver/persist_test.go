package devserver

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"
)

// TestStartWithFileDatabase covers the `worker --dev` shape: a SQLite file
// that survives restarts, the Web UI with a codec endpoint, a log file in
// the data dir, and a search attribute added on the second start (which the
// CLI alone would skip because the namespace already exists).
func TestStartWithFileDatabase(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	opts := Options{
		DBFile:           filepath.Join(dir, "temporal.db"),
		DataDir:          dir,
		Namespace:        "tandem",
		UICodecEndpoint:  "http://127.0.0.1:1/codec",
		SearchAttributes: map[string]enumspb.IndexedValueType{"TandemPairing": enumspb.INDEXED_VALUE_TYPE_KEYWORD},
	}

	srv, err := Start(ctx, opts)
	require.NoError(t, err)
	t.Logf("file-database server ready in %s, UI %s", srv.StartupDuration(), srv.UIURL())
	require.NotEmpty(t, srv.UIURL())
	settings := httpGet(t, srv.UIURL()+"/api/v1/settings")
	require.Contains(t, settings, "http://127.0.0.1:1/codec")

	c, err := client.DialContext(ctx, client.Options{HostPort: srv.Address(), Namespace: "tandem", Logger: quietLogger()})
	require.NoError(t, err)
	_, err = c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "survivor", TaskQueue: "nobody-polls"}, "SomeWorkflow")
	require.NoError(t, err)
	c.Close()
	require.NoError(t, srv.Stop())

	opts.SearchAttributes = map[string]enumspb.IndexedValueType{
		"TandemPairing": enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		"TandemErpId":   enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	}
	srv, err = Start(ctx, opts)
	require.NoError(t, err)
	t.Logf("restarted on the existing database in %s", srv.StartupDuration())
	defer func() { require.NoError(t, srv.Stop()) }()
	c, err = client.DialContext(ctx, client.Options{HostPort: srv.Address(), Namespace: "tandem", Logger: quietLogger()})
	require.NoError(t, err)
	defer c.Close()
	desc, err := c.DescribeWorkflow(ctx, "survivor", "")
	require.NoError(t, err)
	require.Equal(t, enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, desc.Status)
	resp, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: "tandem"})
	require.NoError(t, err)
	require.Equal(t, enumspb.INDEXED_VALUE_TYPE_KEYWORD, resp.GetCustomAttributes()["TandemErpId"])

	_, err = os.Stat(filepath.Join(dir, LogFileName))
	require.NoError(t, err)
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "GET %s: %s", url, body)
	return string(body)
}
