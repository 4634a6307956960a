package erpsim_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tandemsync/tandem/simulators/customerp/erpsim"
)

// TestChangesWaitHoldsUntilACommit: a feed read with wait on an empty feed is held until a
// change commits, then answers with it and says it long-polled; every answer is checked
// against openapi.yaml by the harness.
func TestChangesWaitHoldsUntilACommit(t *testing.T) {
	t.Parallel()
	h := start(t, erpsim.Options{})
	done := make(chan answer, 1)
	go func() { done <- h.do(http.MethodGet, "/customers/changes?since=0&wait=30", nil) }()
	select {
	case a := <-done:
		t.Fatalf("answered before any change committed: %d %s", a.Status, a.Body)
	case <-time.After(300 * time.Millisecond):
	}
	h.put("customers", map[string]any{"name": "Held Ltd"})
	var a answer
	select {
	case a = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the long poll did not answer within 20 s of a commit")
	}
	require.Equal(t, http.StatusOK, a.Status, "%s", a.Body)
	assert.Equal(t, "1", a.Header.Get("Tandem-Long-Poll"))
	items := a.json(t)["items"].([]any)
	require.Len(t, items, 1)
	assert.Equal(t, "Held Ltd", items[0].(map[string]any)["record"].(map[string]any)["name"])
}

// TestChangesWaitIgnoresOtherResources: a commit of another resource wakes the wait but
// does not end it; the answer comes when wait passes, empty, with the token unchanged.
func TestChangesWaitIgnoresOtherResources(t *testing.T) {
	t.Parallel()
	h := start(t, erpsim.Options{})
	began := time.Now()
	done := make(chan answer, 1)
	go func() { done <- h.do(http.MethodGet, "/products/changes?wait=1", nil) }()
	h.put("customers", map[string]any{"name": "Other Ltd"})
	a := <-done
	require.Equal(t, http.StatusOK, a.Status, "%s", a.Body)
	assert.GreaterOrEqual(t, time.Since(began), time.Second, "answered before the wait passed")
	assert.Equal(t, "1", a.Header.Get("Tandem-Long-Poll"))
	m := a.json(t)
	assert.Empty(t, m["items"])
	assert.Equal(t, "0", m["next"])
}

// TestChangesWaitAnswersAtOnceWhenChangesExist, and without wait no header is sent.
func TestChangesWaitAnswersAtOnceWhenChangesExist(t *testing.T) {
	t.Parallel()
	h := start(t, erpsim.Options{})
	h.put("customers", map[string]any{"name": "Ready Ltd"})
	done := make(chan answer, 1)
	go func() { done <- h.do(http.MethodGet, "/customers/changes?wait=30", nil) }()
	select {
	case a := <-done:
		require.Equal(t, http.StatusOK, a.Status, "%s", a.Body)
		assert.Equal(t, "1", a.Header.Get("Tandem-Long-Poll"))
		assert.Len(t, a.json(t)["items"], 1)
	case <-time.After(20 * time.Second):
		t.Fatal("a long poll with changes waiting was held")
	}
	a := h.do(http.MethodGet, "/customers/changes", nil)
	require.Equal(t, http.StatusOK, a.Status)
	assert.Empty(t, a.Header.Get("Tandem-Long-Poll"), "no wait asked, none honoured")
	assert.Len(t, a.json(t)["items"], 1)
}

// TestChangesWaitOutOfRange: wait beyond the contract's 30 s, or not a number, is a 400 that
// names the parameter.
func TestChangesWaitOutOfRange(t *testing.T) {
	t.Parallel()
	h := start(t, erpsim.Options{})
	for _, q := range []string{"wait=31", "wait=-1", "wait=soon"} {
		a := h.do(http.MethodGet, "/customers/changes?"+q, nil)
		require.Equal(t, http.StatusBadRequest, a.Status, q)
		p := a.problem(t)
		require.NotEmpty(t, p.Errors, q)
		assert.Equal(t, "wait", p.Errors[0].Field, q)
	}
}
