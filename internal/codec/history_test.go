package codec_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/tandemsync/tandem/internal/codec"
	"github.com/tandemsync/tandem/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// contact is personal data as a sync workflow would carry it.
type contact struct {
	Name  string
	Email string
	Phone string
	Token string
}

type contactResult struct {
	Greeting  string
	Rejection string
	Phone     string
}

const confirmSignal = "confirm"

// contactWorkflow moves the contact through an activity result, an activity
// failure whose message quotes it, a signal and the workflow result.
func contactWorkflow(ctx workflow.Context, in contact) (contactResult, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 1},
	})
	var res contactResult
	if err := workflow.ExecuteActivity(ctx, "GreetContact", in).Get(ctx, &res.Greeting); err != nil {
		return res, err
	}
	err := workflow.ExecuteActivity(ctx, "RejectContact", in).Get(ctx, nil)
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) {
		return res, fmt.Errorf("RejectContact should fail with an application error, got %v", err)
	}
	res.Rejection = appErr.Error()
	workflow.GetSignalChannel(ctx, confirmSignal).Receive(ctx, &res.Phone)
	return res, nil
}

func greetContact(_ context.Context, in contact) (string, error) {
	return "Hello " + in.Name + " <" + in.Email + ">", nil
}

func rejectContact(_ context.Context, in contact) error {
	// Error texts quote values, as validation errors from the APIs do.
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf("webCRM rejected %s (%s, token %s)", in.Email, in.Phone, in.Token), "Validation", nil)
}

func randomHex(t *testing.T) string {
	t.Helper()
	b := make([]byte, 6)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return hex.EncodeToString(b)
}

// runContactWorkflow runs contactWorkflow on c (worker and starter) and
// returns its id and result.
func runContactWorkflow(t *testing.T, c client.Client, in contact) (string, contactResult) {
	t.Helper()
	tq := testenv.TaskQueue(t)
	w := worker.New(c, tq, worker.Options{})
	w.RegisterWorkflowWithOptions(contactWorkflow, workflow.RegisterOptions{Name: "ContactWorkflow"})
	w.RegisterActivityWithOptions(greetContact, activity.RegisterOptions{Name: "GreetContact"})
	w.RegisterActivityWithOptions(rejectContact, activity.RegisterOptions{Name: "RejectContact"})
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	id := "contact-" + randomHex(t)
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: id, TaskQueue: tq, Memo: map[string]any{"contact": in.Email},
	}, "ContactWorkflow", in)
	require.NoError(t, err)
	require.NoError(t, c.SignalWorkflow(ctx, id, run.GetRunID(), confirmSignal, in.Phone))
	var res contactResult
	require.NoError(t, run.Get(ctx, &res))
	return id, res
}

// rawHistory reads every event of a workflow's history as the server stores it.
func rawHistory(t *testing.T, c client.Client, id string) []*historypb.HistoryEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var events []*historypb.HistoryEvent
	it := c.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		require.NoError(t, err)
		events = append(events, ev)
	}
	require.NotEmpty(t, events)
	return events
}

// payloadsOf finds every Payload anywhere inside m.
func payloadsOf(m protoreflect.Message) []*commonpb.Payload {
	if p, ok := m.Interface().(*commonpb.Payload); ok {
		return []*commonpb.Payload{p}
	}
	var out []*commonpb.Payload
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList():
			if fd.Message() != nil {
				for i := 0; i < v.List().Len(); i++ {
					out = append(out, payloadsOf(v.List().Get(i).Message())...)
				}
			}
		case fd.IsMap():
			if fd.MapValue().Message() != nil {
				v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
					out = append(out, payloadsOf(mv.Message())...)
					return true
				})
			}
		case fd.Message() != nil:
			out = append(out, payloadsOf(v.Message())...)
		}
		return true
	})
	return out
}

// leaks lists which of secrets occur in the events: in any payload's bytes
// or anywhere else in the encoded event (failure messages, memo, ...).
func leaks(t *testing.T, events []*historypb.HistoryEvent, secrets []string) []string {
	t.Helper()
	found := map[string]bool{}
	for _, ev := range events {
		raw, err := proto.Marshal(ev)
		require.NoError(t, err)
		blobs := [][]byte{raw}
		for _, p := range payloadsOf(ev.ProtoReflect()) {
			blobs = append(blobs, p.Data)
			for _, v := range p.Metadata {
				blobs = append(blobs, v)
			}
		}
		for _, s := range secrets {
			for _, b := range blobs {
				if bytes.Contains(b, []byte(s)) {
					found[s] = true
				}
			}
		}
	}
	var out []string
	for _, s := range secrets {
		if found[s] {
			out = append(out, s)
		}
	}
	return out
}

func TestHistoryHoldsNoPersonalData(t *testing.T) {
	t.Parallel()
	raw := testenv.Client(t) // no codec: sees what the server stores
	srv := testenv.Temporal(t)
	suffix := randomHex(t)
	in := contact{
		Name:  "Karen Blixen " + suffix,
		Email: "karen." + suffix + "@example.dk",
		Phone: "+45 33 " + suffix,
		Token: "tok_" + suffix,
	}
	secrets := []string{in.Name, in.Email, in.Phone, in.Token}

	entry, _ := newEntry(t, "it-1")
	keys := mustKeys(t, entry, "")
	dc, err := codec.NewDataConverter(keys)
	require.NoError(t, err)
	fc := codec.NewFailureConverter(dc)
	enc, err := client.NewClientFromExisting(raw, client.Options{
		Namespace: srv.Namespace(), DataConverter: dc, FailureConverter: fc,
		Logger: tlog.NewStructuredLogger(slog.New(slog.DiscardHandler)),
	})
	require.NoError(t, err)
	t.Cleanup(enc.Close)

	id, res := runContactWorkflow(t, enc, in)
	// The client with the codec reads everything back.
	require.Equal(t, "Hello "+in.Name+" <"+in.Email+">", res.Greeting)
	require.Contains(t, res.Rejection, in.Email)
	require.Contains(t, res.Rejection, in.Token)
	require.Equal(t, in.Phone, res.Phone)

	events := rawHistory(t, raw, id)
	require.Empty(t, leaks(t, events, secrets), "personal data in the stored history")

	var payloads, failures int
	var sawStart bool
	for _, ev := range events {
		for _, p := range payloadsOf(ev.ProtoReflect()) {
			payloads++
			require.Equal(t, codec.EncodingEncrypted, string(p.Metadata[converter.MetadataEncoding]), "event %d %s", ev.EventId, ev.EventType)
			require.Equal(t, "it-1", string(p.Metadata[codec.MetadataKeyID]))
		}
		if a := ev.GetWorkflowExecutionStartedEventAttributes(); a != nil {
			sawStart = true
			var got contact
			require.NoError(t, dc.FromPayloads(a.Input, &got))
			require.Equal(t, in, got)
			var memo string
			require.NoError(t, dc.FromPayload(a.Memo.Fields["contact"], &memo))
			require.Equal(t, in.Email, memo)
		}
		if a := ev.GetActivityTaskFailedEventAttributes(); a != nil {
			failures++
			require.NotContains(t, a.Failure.Message, in.Email)
			require.ErrorContains(t, fc.FailureToError(a.Failure), in.Email)
		}
	}
	require.True(t, sawStart)
	require.Equal(t, 1, failures)
	// Input, memo, greeting, failure attributes, signal and result at least.
	require.GreaterOrEqual(t, payloads, 6)
}

// TestHistoryScanFindsPlainData shows the scan above would notice: the same
// workflow without the codec leaves every value readable.
func TestHistoryScanFindsPlainData(t *testing.T) {
	t.Parallel()
	raw := testenv.Client(t)
	// The same connection, with the SDK's "Activity error" log lines (which
	// quote the plain values) kept out of the test output.
	quiet, err := client.NewClientFromExisting(raw, client.Options{
		Namespace: testenv.Temporal(t).Namespace(), Logger: tlog.NewStructuredLogger(slog.New(slog.DiscardHandler)),
	})
	require.NoError(t, err)
	t.Cleanup(quiet.Close)
	suffix := randomHex(t)
	in := contact{Name: "Plain " + suffix, Email: "plain." + suffix + "@example.dk", Phone: "+45 44 " + suffix, Token: "tok_plain_" + suffix}
	id, _ := runContactWorkflow(t, quiet, in)
	require.ElementsMatch(t, []string{in.Name, in.Email, in.Phone, in.Token}, leaks(t, rawHistory(t, raw, id), []string{in.Name, in.Email, in.Phone, in.Token}))
}
