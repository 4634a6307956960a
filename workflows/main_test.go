package workflows

import (
	"testing"

	"github.com/tandemsync/tandem/internal/testenv"
)

// TestMain stops the shared Temporal dev server that the history recorder
// starts (see replay_test.go).
func TestMain(m *testing.M) { testenv.Main(m) }
