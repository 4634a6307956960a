package devserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

var (
	pairingKey = temporal.NewSearchAttributeKeyKeyword("TandemPairing")
	stateKey   = temporal.NewSearchAttributeKeyKeyword("TandemState")
)

func greet(_ context.Context, name string) (string, error) {
	return "hello " + name, nil
}

func greetWorkflow(ctx workflow.Context, name string) (string, error) {
	if err := workflow.UpsertTypedSearchAttributes(ctx, stateKey.ValueSet("greeted")); err != nil {
		return "", err
	}
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Second})
	var out string
	err := workflow.ExecuteActivity(ctx, greet, name).Get(ctx, &out)
	return out, err
}

func TestStartRunsWorkflowWithSearchAttributes(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	began := time.Now()
	srv, err := Start(ctx, Options{
		Headless: true,
		SearchAttributes: map[string]enumspb.IndexedValueType{
			"TandemPairing": enumspb.INDEXED_VALUE_TYPE_KEYWORD,
			"TandemState":   enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		},
		DynamicConfig: map[string]any{"limit.historyCount.suggestContinueAsNew": 200},
	})
	require.NoError(t, err)
	t.Logf("dev server ready at %s in %s (Start call %s)", srv.Address(), srv.StartupDuration(), time.Since(began))
	require.Empty(t, srv.UIURL())

	c, err := client.DialContext(ctx, client.Options{HostPort: srv.Address(), Namespace: srv.Namespace(), Logger: quietLogger()})
	require.NoError(t, err)

	// Registering again, plus one new attribute, is idempotent.
	extra := map[string]enumspb.IndexedValueType{
		"TandemPairing": enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		"TandemCrmId":   enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	}
	require.NoError(t, RegisterSearchAttributes(ctx, c, srv.Namespace(), extra))
	require.NoError(t, RegisterSearchAttributes(ctx, c, srv.Namespace(), extra))
	resp, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: srv.Namespace()})
	require.NoError(t, err)
	for _, name := range []string{"TandemPairing", "TandemState", "TandemCrmId"} {
		require.Equal(t, enumspb.INDEXED_VALUE_TYPE_KEYWORD, resp.GetCustomAttributes()[name], name)
	}
	err = RegisterSearchAttributes(ctx, c, srv.Namespace(), map[string]enumspb.IndexedValueType{"TandemCrmId": enumspb.INDEXED_VALUE_TYPE_INT})
	require.ErrorContains(t, err, `"TandemCrmId"`)

	const queue = "devserver-test"
	w := worker.New(c, queue, worker.Options{})
	w.RegisterWorkflow(greetWorkflow)
	w.RegisterActivity(greet)
	require.NoError(t, w.Start())

	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                    "greet-1",
		TaskQueue:             queue,
		TypedSearchAttributes: temporal.NewSearchAttributes(pairingKey.ValueSet("organisations")),
	}, greetWorkflow, "tandem")
	require.NoError(t, err)
	var got string
	require.NoError(t, run.Get(ctx, &got))
	require.Equal(t, "hello tandem", got)

	// The upserted attribute becomes searchable.
	require.Eventually(t, func() bool {
		list, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Query: `TandemPairing = "organisations" AND TandemState = "greeted"`,
		})
		return err == nil && len(list.GetExecutions()) == 1 && list.GetExecutions()[0].GetExecution().GetWorkflowId() == "greet-1"
	}, 20*time.Second, 100*time.Millisecond)

	w.Stop()
	c.Close()
	stopBegan := time.Now()
	require.NoError(t, srv.Stop())
	t.Logf("dev server stopped in %s", time.Since(stopBegan))
	select {
	case <-srv.Exited():
	default:
		t.Fatal("Stop returned before the server exited")
	}
	_, err = net.DialTimeout("tcp", srv.Address(), time.Second)
	require.Error(t, err, "frontend still accepts connections after Stop")
	require.NoError(t, srv.Stop(), "second Stop")
}

func TestStartBusyPortNamesThePort(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port

	// A CLI path that exists is enough: the port is checked before the
	// child is started.
	_, err = Start(context.Background(), Options{CLIPath: "/bin/true", Port: port, Headless: true})
	require.Error(t, err)
	var busy *PortInUseError
	require.True(t, errors.As(err, &busy), "want *PortInUseError, got %T: %v", err, err)
	require.Equal(t, port, busy.Port)
	require.Equal(t, "frontend gRPC", busy.Purpose)
	require.Contains(t, err.Error(), strconv.Itoa(port))
	require.Contains(t, err.Error(), "already in use")

	// The UI port is checked too.
	free, err := FreePort()
	require.NoError(t, err)
	_, err = Start(context.Background(), Options{CLIPath: "/bin/true", Port: free, UIPort: port})
	require.True(t, errors.As(err, &busy), "want *PortInUseError, got %T: %v", err, err)
	require.Equal(t, "Web UI", busy.Purpose)
	require.Contains(t, err.Error(), fmt.Sprintf("port %d", port))
}

func TestStartReportsChildFailureWithOutput(t *testing.T) {
	t.Parallel()
	// `false` exits at once; Start must notice the exit rather than wait
	// for the whole timeout.
	began := time.Now()
	_, err := Start(context.Background(), Options{CLIPath: "/bin/false", Port: mustFreePort(t), Headless: true, StartTimeout: 30 * time.Second})
	require.Error(t, err)
	require.Contains(t, err.Error(), "exited during start-up")
	require.Less(t, time.Since(began), 10*time.Second)
}

func mustFreePort(t *testing.T) int {
	t.Helper()
	p, err := FreePort()
	require.NoError(t, err)
	return p
}

func TestBuildArgs(t *testing.T) {
	t.Parallel()
	args, err := buildArgs(Options{
		IP: "127.0.0.1", Port: 7233, UIPort: 8233, LogLevel: "warn", Namespace: "tandem",
		DBFile: "/data/temporal.db", UICodecEndpoint: "http://127.0.0.1:9000",
		SearchAttributes: map[string]enumspb.IndexedValueType{"B": enumspb.INDEXED_VALUE_TYPE_INT, "A": enumspb.INDEXED_VALUE_TYPE_KEYWORD},
		DynamicConfig:    map[string]any{"frontend.namespaceRPS.visibility": 100, "x.s": "v"},
	})
	require.NoError(t, err)
	got := strings.Join(args, " ")
	for _, want := range []string{
		"server start-dev --ip 127.0.0.1 --port 7233 --log-level warn",
		"--ui-port 8233 --ui-codec-endpoint http://127.0.0.1:9000",
		"--db-filename /data/temporal.db --sqlite-pragma journal_mode=wal --sqlite-pragma synchronous=normal",
		"--namespace tandem",
		"--search-attribute A=Keyword --search-attribute B=Int",
		`--dynamic-config-value frontend.namespaceRPS.visibility=100 --dynamic-config-value x.s="v"`,
	} {
		require.Contains(t, got, want)
	}
	require.NotContains(t, got, "--headless")

	_, err = buildArgs(Options{SearchAttributes: map[string]enumspb.IndexedValueType{"Bad": enumspb.INDEXED_VALUE_TYPE_UNSPECIFIED}})
	require.ErrorContains(t, err, `"Bad"`)
}

// quietLogger keeps the SDK's info lines out of test output.
func quietLogger() sdklog.Logger {
	return sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
}
