package testenv

import (
	"strings"
	"testing"
)

func TestUsePostgres(t *testing.T) {
	for v, want := range map[string]bool{"": false, "dev": false, "postgres": true} {
		t.Setenv(EnvTemporal, v)
		got, err := usePostgres()
		if err != nil || got != want {
			t.Errorf("%s=%q: %v, %v; want %v", EnvTemporal, v, got, err, want)
		}
	}
	t.Setenv(EnvTemporal, "sqlite")
	if _, err := usePostgres(); err == nil {
		t.Errorf("%s=sqlite accepted", EnvTemporal)
	}
}

func TestNamespaceName(t *testing.T) {
	a, b := namespaceName("TestX/sub case"), namespaceName("TestX/sub case")
	if a == b || !strings.HasPrefix(a, "t-TestX_sub_case-") {
		t.Errorf("namespaceName = %q, %q: want distinct names from the test's", a, b)
	}
}
