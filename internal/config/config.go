// Package config loads the settings the worker and the starter share: how to
// reach Temporal, webCRM and the ERP, where the mapping files are, and the
// sync knobs. Settings come from an optional YAML file, then the
// environment; secrets belong in the environment or in a file only the
// service can read, never in workflow input.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is tandem's configuration. The YAML keys are the lower-camel-case
// names in the struct tags; every field also has an environment variable,
// listed in Env.
type Config struct {
	Temporal Temporal `yaml:"temporal"`
	WebCRM   WebCRM   `yaml:"webcrm"`
	ERP      ERP      `yaml:"erp"`
	Sync     Sync     `yaml:"sync"`
	Worker   Worker   `yaml:"worker"`
}

// Temporal says how to reach the Temporal service.
type Temporal struct {
	Address   string `yaml:"address"`   // TEMPORAL_ADDRESS, default 127.0.0.1:7233
	Namespace string `yaml:"namespace"` // TEMPORAL_NAMESPACE, default "default"
	APIKey    string `yaml:"apiKey"`    // TEMPORAL_API_KEY (Temporal Cloud); secret
	TLSCert   string `yaml:"tlsCert"`   // TEMPORAL_TLS_CERT: client certificate file (mTLS)
	TLSKey    string `yaml:"tlsKey"`    // TEMPORAL_TLS_KEY: client key file (mTLS)
	TLSCA     string `yaml:"tlsCA"`     // TEMPORAL_TLS_CA: CA bundle to trust
	TLS       bool   `yaml:"tls"`       // TEMPORAL_TLS: use TLS without a client certificate
	Codec     Codec  `yaml:"-"`         // payload encryption; from the environment only
}

// Codec holds the payload encryption keys (see internal/codec). Keys come
// only from the environment or a file it names, never from the YAML file.
// No keys: payloads are stored unencrypted.
type Codec struct {
	Keys     string `yaml:"-"` // TANDEM_CODEC_KEYS: id:base64key[,id:base64key...], 32-byte keys; secret
	KeysFile string `yaml:"-"` // TANDEM_CODEC_KEYS_FILE: file holding the same list
	KeyID    string `yaml:"-"` // TANDEM_CODEC_KEY_ID: the id that encrypts (default: the last listed)
}

// WebCRM says how to reach webCRM.
type WebCRM struct {
	BaseURL           string `yaml:"baseURL"`           // WEBCRM_BASE_URL, default https://api.webcrm.com
	APIToken          string `yaml:"apiToken"`          // WEBCRM_API_TOKEN; secret
	RequestsPerMinute int    `yaml:"requestsPerMinute"` // WEBCRM_REQUESTS_PER_MINUTE, default 250
	// TimeZone is the IANA zone in which the account writes time stamps that
	// carry no offset (WEBCRM_TIME_ZONE, default UTC).
	TimeZone string `yaml:"timeZone"`
	// ReservedShare is the share of RequestsPerMinute tandem leaves to the
	// customer's other integrations on the token (WEBCRM_RESERVED_SHARE,
	// 0 to 0.9, default 0).
	ReservedShare float64 `yaml:"reservedShare"`
}

// Location returns the webCRM account's time zone (UTC when unset).
func (w WebCRM) Location() (*time.Location, error) {
	if w.TimeZone == "" {
		return time.UTC, nil
	}
	loc, err := time.LoadLocation(w.TimeZone)
	if err != nil {
		return nil, fmt.Errorf("webcrm.timeZone (WEBCRM_TIME_ZONE) %q is not a time zone such as Europe/Copenhagen: %w", w.TimeZone, err)
	}
	return loc, nil
}

// ERP says how to reach the CustomERP API.
type ERP struct {
	BaseURL string `yaml:"baseURL"` // CUSTOMERP_BASE_URL
	APIKey  string `yaml:"apiKey"`  // CUSTOMERP_API_KEY; secret
}

// Sync holds the sync engine's knobs.
type Sync struct {
	MappingsDir  string        `yaml:"mappingsDir"`  // TANDEM_MAPPINGS_DIR; empty = the built-in defaults
	PollInterval time.Duration `yaml:"pollInterval"` // TANDEM_POLL_INTERVAL, default 30s
	// ERPPollInterval is the time between reads of the ERP change feed, which
	// cost no webCRM budget (TANDEM_ERP_POLL_INTERVAL, default 2s; not
	// longer than PollInterval).
	ERPPollInterval time.Duration `yaml:"erpPollInterval"`
	Concurrency     int           `yaml:"concurrency"` // TANDEM_DISPATCH_CONCURRENCY: changes dispatched at once per activity, default 16
}

// Worker holds the worker process's own settings.
type Worker struct {
	MetricsAddr string `yaml:"metricsAddr"` // TANDEM_METRICS_ADDR, default 127.0.0.1:9090; "off" disables
	HooksAddr   string `yaml:"hooksAddr"`   // TANDEM_HOOKS_ADDR, default 127.0.0.1:8085; "off" disables
	HooksSecret string `yaml:"hooksSecret"` // TANDEM_HOOKS_SECRET: shared secret webCRM hook calls must carry; secret
	LogLevel    string `yaml:"logLevel"`    // TANDEM_LOG_LEVEL: debug, info, warn, error (default info)
	CodecAddr   string `yaml:"codecAddr"`   // TANDEM_CODEC_ADDR: codec endpoint for the Temporal UI, default 127.0.0.1:8088; "off" disables
	CodecToken  string `yaml:"codecToken"`  // TANDEM_CODEC_TOKEN: bearer token codec endpoint callers must send; secret
	CodecOrigin string `yaml:"codecOrigin"` // TANDEM_CODEC_ORIGIN: the Temporal UI's origin, default http://127.0.0.1:8233
	// OpsMetrics is how often the link-state and budget gauges of the
	// metrics endpoint are read from Temporal (TANDEM_OPS_METRICS, default
	// 30s); "off" leaves them out. Each read counts a pairing's links by
	// state in visibility, which a SQL visibility store does by scanning them.
	OpsMetrics string `yaml:"opsMetrics"`
}

// OpsMetricsInterval returns how often the operator gauges are read, 0 when
// they are off.
func (w Worker) OpsMetricsInterval() (time.Duration, error) {
	if strings.EqualFold(w.OpsMetrics, "off") {
		return 0, nil
	}
	d, err := time.ParseDuration(w.OpsMetrics)
	if err != nil || d < time.Second {
		return 0, fmt.Errorf("worker.opsMetrics (TANDEM_OPS_METRICS) %q is neither off nor a duration of at least 1s such as 30s", w.OpsMetrics)
	}
	return d, nil
}

// Default returns the configuration before any file or variable is read.
func Default() Config {
	return Config{
		Temporal: Temporal{Address: "127.0.0.1:7233", Namespace: "default"},
		WebCRM:   WebCRM{BaseURL: "https://api.webcrm.com", RequestsPerMinute: 250},
		Sync:     Sync{PollInterval: 30 * time.Second, ERPPollInterval: 2 * time.Second, Concurrency: 16},
		Worker: Worker{MetricsAddr: "127.0.0.1:9090", HooksAddr: "127.0.0.1:8085", LogLevel: "info",
			CodecAddr: "127.0.0.1:8088", CodecOrigin: "http://127.0.0.1:8233", OpsMetrics: "30s"},
	}
}

// envVar binds one environment variable to one field.
type envVar struct {
	name string
	set  func(c *Config, v string) error
}

// Env lists the environment variables Load reads, in the order it applies them.
func Env() []string {
	vars := envVars()
	names := make([]string, len(vars))
	for i, v := range vars {
		names[i] = v.name
	}
	return names
}

func envVars() []envVar {
	str := func(name string, f func(c *Config) *string) envVar {
		return envVar{name, func(c *Config, v string) error { *f(c) = v; return nil }}
	}
	num := func(name string, f func(c *Config) *int) envVar {
		return envVar{name, func(c *Config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil {
				return fmt.Errorf("%s=%q is not a whole number", name, v)
			}
			*f(c) = n
			return nil
		}}
	}
	dur := func(name string, f func(c *Config) *time.Duration) envVar {
		return envVar{name, func(c *Config, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil {
				return fmt.Errorf("%s=%q is not a duration such as 30s", name, v)
			}
			*f(c) = d
			return nil
		}}
	}
	return []envVar{
		str("TEMPORAL_ADDRESS", func(c *Config) *string { return &c.Temporal.Address }),
		str("TEMPORAL_NAMESPACE", func(c *Config) *string { return &c.Temporal.Namespace }),
		str("TEMPORAL_API_KEY", func(c *Config) *string { return &c.Temporal.APIKey }),
		str("TEMPORAL_TLS_CERT", func(c *Config) *string { return &c.Temporal.TLSCert }),
		str("TEMPORAL_TLS_KEY", func(c *Config) *string { return &c.Temporal.TLSKey }),
		str("TEMPORAL_TLS_CA", func(c *Config) *string { return &c.Temporal.TLSCA }),
		{"TEMPORAL_TLS", func(c *Config, v string) error {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("TEMPORAL_TLS=%q is not true or false", v)
			}
			c.Temporal.TLS = b
			return nil
		}},
		str("WEBCRM_BASE_URL", func(c *Config) *string { return &c.WebCRM.BaseURL }),
		str("WEBCRM_API_TOKEN", func(c *Config) *string { return &c.WebCRM.APIToken }),
		num("WEBCRM_REQUESTS_PER_MINUTE", func(c *Config) *int { return &c.WebCRM.RequestsPerMinute }),
		str("WEBCRM_TIME_ZONE", func(c *Config) *string { return &c.WebCRM.TimeZone }),
		{"WEBCRM_RESERVED_SHARE", func(c *Config, v string) error {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return fmt.Errorf("WEBCRM_RESERVED_SHARE=%q is not a number such as 0.2", v)
			}
			c.WebCRM.ReservedShare = f
			return nil
		}},
		str("CUSTOMERP_BASE_URL", func(c *Config) *string { return &c.ERP.BaseURL }),
		str("CUSTOMERP_API_KEY", func(c *Config) *string { return &c.ERP.APIKey }),
		str("TANDEM_MAPPINGS_DIR", func(c *Config) *string { return &c.Sync.MappingsDir }),
		dur("TANDEM_POLL_INTERVAL", func(c *Config) *time.Duration { return &c.Sync.PollInterval }),
		dur("TANDEM_ERP_POLL_INTERVAL", func(c *Config) *time.Duration { return &c.Sync.ERPPollInterval }),
		num("TANDEM_DISPATCH_CONCURRENCY", func(c *Config) *int { return &c.Sync.Concurrency }),
		str("TANDEM_METRICS_ADDR", func(c *Config) *string { return &c.Worker.MetricsAddr }),
		str("TANDEM_HOOKS_ADDR", func(c *Config) *string { return &c.Worker.HooksAddr }),
		str("TANDEM_HOOKS_SECRET", func(c *Config) *string { return &c.Worker.HooksSecret }),
		str("TANDEM_LOG_LEVEL", func(c *Config) *string { return &c.Worker.LogLevel }),
		str("TANDEM_OPS_METRICS", func(c *Config) *string { return &c.Worker.OpsMetrics }),
		str("TANDEM_CODEC_KEYS", func(c *Config) *string { return &c.Temporal.Codec.Keys }),
		str("TANDEM_CODEC_KEYS_FILE", func(c *Config) *string { return &c.Temporal.Codec.KeysFile }),
		str("TANDEM_CODEC_KEY_ID", func(c *Config) *string { return &c.Temporal.Codec.KeyID }),
		str("TANDEM_CODEC_ADDR", func(c *Config) *string { return &c.Worker.CodecAddr }),
		str("TANDEM_CODEC_TOKEN", func(c *Config) *string { return &c.Worker.CodecToken }),
		str("TANDEM_CODEC_ORIGIN", func(c *Config) *string { return &c.Worker.CodecOrigin }),
	}
}

// Load reads the YAML file at path (when path is not empty), then the
// environment through getenv (os.Getenv when nil), over the defaults. Errors
// name the file and line, or the variable.
func Load(path string, getenv func(string) string) (Config, error) {
	cfg := Default()
	if getenv == nil {
		getenv = os.Getenv
	}
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return cfg, fmt.Errorf("read config file: %w", err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
			return cfg, fmt.Errorf("config file %s: %w", path, yamlErr{err})
		}
	}
	var errs []error
	for _, v := range envVars() {
		if val := getenv(v.name); val != "" {
			if err := v.set(&cfg, val); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// yamlLineRE finds the line number in a yaml.v3 error.
var yamlLineRE = regexp.MustCompile(`line (\d+)`)

// yamlErr is a yaml.v3 error whose text counts the line of a "did not find
// expected …" error from 1, as yaml.v3 counts it from 0 there (and from 1
// everywhere else).
type yamlErr struct{ err error }

func (e yamlErr) Unwrap() error { return e.err }

func (e yamlErr) Error() string {
	msg := e.err.Error()
	if !strings.Contains(msg, "did not find expected") {
		return msg
	}
	return yamlLineRE.ReplaceAllStringFunc(msg, func(m string) string {
		n, _ := strconv.Atoi(strings.TrimPrefix(m, "line "))
		return "line " + strconv.Itoa(n+1)
	})
}

// Validate checks that the settings a worker needs are present and sane.
func (c Config) Validate() error {
	var errs []error
	if c.Temporal.Address == "" {
		errs = append(errs, errors.New("temporal.address (TEMPORAL_ADDRESS) is empty"))
	}
	if (c.Temporal.TLSCert == "") != (c.Temporal.TLSKey == "") {
		errs = append(errs, errors.New("temporal.tlsCert and temporal.tlsKey (TEMPORAL_TLS_CERT, TEMPORAL_TLS_KEY) go together"))
	}
	for _, u := range []struct{ name, value string }{
		{"webcrm.baseURL (WEBCRM_BASE_URL)", c.WebCRM.BaseURL},
		{"erp.baseURL (CUSTOMERP_BASE_URL)", c.ERP.BaseURL},
	} {
		if u.value == "" {
			errs = append(errs, fmt.Errorf("%s is empty", u.name))
			continue
		}
		if p, err := url.Parse(u.value); err != nil || p.Scheme == "" || p.Host == "" {
			errs = append(errs, fmt.Errorf("%s=%q is not an absolute URL", u.name, u.value))
		}
	}
	if c.WebCRM.APIToken == "" {
		errs = append(errs, errors.New("webcrm.apiToken (WEBCRM_API_TOKEN) is empty"))
	}
	if c.ERP.APIKey == "" {
		errs = append(errs, errors.New("erp.apiKey (CUSTOMERP_API_KEY) is empty"))
	}
	if c.WebCRM.ReservedShare < 0 || c.WebCRM.ReservedShare > 0.9 {
		errs = append(errs, fmt.Errorf("webcrm.reservedShare (WEBCRM_RESERVED_SHARE) must be between 0 and 0.9, got %v", c.WebCRM.ReservedShare))
	}
	if _, err := c.WebCRM.Location(); err != nil {
		errs = append(errs, err)
	}
	if c.WebCRM.RequestsPerMinute <= 0 {
		errs = append(errs, fmt.Errorf("webcrm.requestsPerMinute must be positive, got %d", c.WebCRM.RequestsPerMinute))
	}
	if c.Sync.PollInterval < time.Second {
		errs = append(errs, fmt.Errorf("sync.pollInterval must be at least 1s, got %s", c.Sync.PollInterval))
	}
	if c.Sync.ERPPollInterval < time.Second {
		errs = append(errs, fmt.Errorf("sync.erpPollInterval must be at least 1s, got %s", c.Sync.ERPPollInterval))
	}
	if c.Sync.Concurrency <= 0 {
		errs = append(errs, fmt.Errorf("sync.concurrency must be positive, got %d", c.Sync.Concurrency))
	}
	switch strings.ToLower(c.Worker.LogLevel) {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("worker.logLevel %q is not one of debug, info, warn, error", c.Worker.LogLevel))
	}
	if _, err := c.Worker.OpsMetricsInterval(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
