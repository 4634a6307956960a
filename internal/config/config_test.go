package config

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoadLayersFileThenEnvironment(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tandem.yaml")
	require.NoError(t, os.WriteFile(path, []byte("webcrm:\n  baseURL: http://127.0.0.1:8081\n  apiToken: from-file\nsync:\n  pollInterval: 10s\n"), 0o600))
	cfg, err := Load(path, env(map[string]string{"WEBCRM_API_TOKEN": "from-env", "CUSTOMERP_BASE_URL": "http://127.0.0.1:8082", "CUSTOMERP_API_KEY": "k"}))
	require.NoError(t, err)
	require.Equal(t, "http://127.0.0.1:8081", cfg.WebCRM.BaseURL)
	require.Equal(t, "from-env", cfg.WebCRM.APIToken, "the environment wins over the file")
	require.Equal(t, 10*time.Second, cfg.Sync.PollInterval)
	require.Equal(t, 250, cfg.WebCRM.RequestsPerMinute, "defaults stay where nothing overrides them")
	require.NoError(t, cfg.Validate())
}

func TestLoadNamesFileLineOfUnknownKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.yaml")
	require.NoError(t, os.WriteFile(path, []byte("webcrm:\n  baseURL: x\n  apiTokn: typo\n"), 0o600))
	_, err := Load(path, env(nil))
	require.ErrorContains(t, err, "bad.yaml")
	require.ErrorContains(t, err, "line 3")
	require.ErrorContains(t, err, "apiTokn")
}

func TestLoadAcceptsEmptyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "empty.yaml")
	require.NoError(t, os.WriteFile(path, nil, 0o600))
	cfg, err := Load(path, env(nil))
	require.NoError(t, err)
	require.Equal(t, Default(), cfg)
}

func TestLoadRejectsBadEnvironmentValues(t *testing.T) {
	_, err := Load("", env(map[string]string{"TANDEM_POLL_INTERVAL": "soon", "WEBCRM_REQUESTS_PER_MINUTE": "many", "TANDEM_ERP_POLL_INTERVAL": "often"}))
	require.ErrorContains(t, err, "TANDEM_POLL_INTERVAL")
	require.ErrorContains(t, err, "WEBCRM_REQUESTS_PER_MINUTE")
	require.ErrorContains(t, err, "TANDEM_ERP_POLL_INTERVAL")
}

func TestValidateNamesEveryMissingSetting(t *testing.T) {
	cfg := Default()
	cfg.ERP.BaseURL = "not a url"
	cfg.Worker.LogLevel = "loud"
	cfg.Sync.ERPPollInterval = 100 * time.Millisecond
	err := cfg.Validate()
	for _, want := range []string{"WEBCRM_API_TOKEN", "CUSTOMERP_API_KEY", "CUSTOMERP_BASE_URL", "loud", "sync.erpPollInterval"} {
		require.ErrorContains(t, err, want)
	}
}

func TestValidateDoesNotEchoSecrets(t *testing.T) {
	cfg := Default()
	cfg.WebCRM.APIToken = "super-secret-token"
	cfg.WebCRM.RequestsPerMinute = -1
	err := cfg.Validate()
	require.Error(t, err)
	require.NotContains(t, err.Error(), "super-secret-token")
}

func TestOpsMetricsIsAnIntervalOrOff(t *testing.T) {
	for _, tc := range []struct {
		value string
		want  time.Duration
		bad   bool
	}{
		{value: "30s", want: 30 * time.Second},
		{value: "5m", want: 5 * time.Minute},
		{value: "off", want: 0},
		{value: "OFF", want: 0},
		{value: "soon", bad: true},
		{value: "10ms", bad: true}, // would count every link a hundred times a second
		{value: "", bad: true},
	} {
		cfg, err := Load("", env(map[string]string{"TANDEM_OPS_METRICS": tc.value}))
		require.NoError(t, err, tc.value)
		if tc.value == "" {
			require.Equal(t, "30s", cfg.Worker.OpsMetrics, "the default")
			cfg.Worker.OpsMetrics = ""
		}
		got, err := cfg.Worker.OpsMetricsInterval()
		if tc.bad {
			require.ErrorContains(t, err, "TANDEM_OPS_METRICS", tc.value)
			require.ErrorContains(t, cfg.Validate(), "TANDEM_OPS_METRICS", tc.value)
			continue
		}
		require.NoError(t, err, tc.value)
		require.Equal(t, tc.want, got, tc.value)
	}
}
