package badinput

import (
	"testing"

	"github.com/tandemsync/tandem/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }
