package pgtemporal

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// composeService is the part of a docker-compose service the drift test reads.
type composeService struct {
	Image       string    `yaml:"image"`
	Environment yaml.Node `yaml:"environment"`
	Volumes     []any     `yaml:"volumes"`
	Command     yaml.Node `yaml:"command"`
}

func readCompose(t *testing.T, root string) map[string]composeService {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Services map[string]composeService `yaml:"services"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("parse docker-compose.yml: %v", err)
	}
	return doc.Services
}

// env returns a service's environment, written as a map or as a list.
func (s composeService) env(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	switch s.Environment.Kind {
	case 0:
	case yaml.MappingNode:
		if err := s.Environment.Decode(&out); err != nil {
			t.Fatalf("environment: %v", err)
		}
	case yaml.SequenceNode:
		var list []string
		if err := s.Environment.Decode(&list); err != nil {
			t.Fatalf("environment: %v", err)
		}
		for _, kv := range list {
			k, v, _ := strings.Cut(kv, "=")
			out[k] = v
		}
	default:
		t.Fatalf("environment: unexpected YAML kind %v", s.Environment.Kind)
	}
	return out
}

// command returns a service's command as one string.
func (s composeService) command(t *testing.T) string {
	t.Helper()
	switch s.Command.Kind {
	case 0:
		return ""
	case yaml.ScalarNode:
		return s.Command.Value
	default:
		var parts []string
		if err := s.Command.Decode(&parts); err != nil {
			t.Fatalf("command: %v", err)
		}
		return strings.Join(parts, " ")
	}
}

// mounts returns the service's bind mounts, target -> source (short syntax).
func (s composeService) mounts() map[string]string {
	out := map[string]string{}
	for _, v := range s.Volumes {
		spec, ok := v.(string)
		if !ok {
			continue
		}
		parts := strings.Split(spec, ":")
		if len(parts) >= 2 {
			out[parts[1]] = parts[0]
		}
	}
	return out
}

func imageTag(image, repo string) (string, bool) {
	tag, ok := strings.CutPrefix(image, repo+":")
	return tag, ok
}

// TestComposeMatchesNativeSetUp fails when docker-compose.yml's Temporal
// drifts from the one the tests run natively (StartCluster): the server
// version pinned in tools/temporal-server/go.mod, persistence, SQL
// visibility, shard count, dynamic config file and schema set-up.
func TestComposeMatchesNativeSetUp(t *testing.T) {
	root, err := RepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	version, err := ServerVersion(root)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.TrimPrefix(version, "v")
	services := readCompose(t, root)

	var server, schema []string
	for _, name := range slices.Sorted(maps.Keys(services)) {
		s := services[name]
		if strings.HasPrefix(s.Image, "temporalio/auto-setup") {
			t.Errorf("service %s uses the deprecated %s; use temporalio/server with a temporalio/admin-tools schema set-up", name, s.Image)
		}
		if tag, ok := imageTag(s.Image, "temporalio/server"); ok {
			server = append(server, name)
			if tag != want {
				t.Errorf("service %s runs %s; the native server is %s (%s/go.mod)", name, s.Image, version, ToolsModule)
			}
		}
		if tag, ok := imageTag(s.Image, "temporalio/admin-tools"); ok {
			if tag != want {
				t.Errorf("service %s runs %s; its schema and CLI must match the server %s", name, s.Image, version)
			}
			if strings.Contains(s.command(t), "temporal-sql-tool") {
				schema = append(schema, name)
			}
		}
	}
	if len(server) != 1 {
		t.Fatalf("want one temporalio/server service, found %v", server)
	}
	if len(schema) != 1 {
		t.Fatalf("want one temporalio/admin-tools service running temporal-sql-tool, found %v", schema)
	}

	srv := services[server[0]]
	env := srv.env(t)
	for k, v := range SharedEnv() {
		if env[k] != v {
			t.Errorf("service %s: %s=%q, the native set-up has %q", server[0], k, env[k], v)
		}
	}
	dcTarget := env["DYNAMIC_CONFIG_FILE_PATH"]
	if dcTarget == "" {
		t.Errorf("service %s sets no DYNAMIC_CONFIG_FILE_PATH", server[0])
	} else if src, ok := srv.mounts()[dcTarget]; !ok {
		t.Errorf("service %s: DYNAMIC_CONFIG_FILE_PATH %s is not a mounted file", server[0], dcTarget)
	} else if filepath.Clean(src) != filepath.Clean(DynamicConfigFile) {
		t.Errorf("service %s mounts %s as its dynamic config; the native server uses %s", server[0], src, DynamicConfigFile)
	}

	sch := services[schema[0]]
	if got := sch.env(t)["SQL_PLUGIN"]; got != Plugin {
		t.Errorf("service %s: SQL_PLUGIN=%q, want %q", schema[0], got, Plugin)
	}
	cmd := strings.Join(strings.Fields(sch.command(t)), " ")
	for _, db := range []struct{ name, schema string }{{DBName, SchemaName}, {VisibilityDBName, VisibilitySchemaName}} {
		for _, step := range SchemaSteps(db.name, db.schema) {
			if line := "temporal-sql-tool " + strings.Join(step, " "); !strings.Contains(cmd, line) {
				t.Errorf("service %s does not run `%s` as the native set-up does", schema[0], line)
			}
		}
	}
}

// TestServerEnv checks that the native server gets the shared settings.
func TestServerEnv(t *testing.T) {
	env := ServerOptions{DBName: DBName, VisibilityDBName: VisibilityDBName, DynamicConfigPath: "/x/dc.yaml", PostgresPort: 5433}.
		Env(map[string]int{"FRONTEND_GRPC_PORT": 7000})
	got := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		got[k] = v
	}
	for k, v := range SharedEnv() {
		if got[k] != v {
			t.Errorf("%s=%q, want %q", k, got[k], v)
		}
	}
	for k, v := range map[string]string{"DYNAMIC_CONFIG_FILE_PATH": "/x/dc.yaml", "DB_PORT": "5433", "FRONTEND_GRPC_PORT": "7000", "NUM_HISTORY_SHARDS": fmt.Sprint(NumHistoryShards)} {
		if got[k] != v {
			t.Errorf("%s=%q, want %q", k, got[k], v)
		}
	}
	if NumHistoryShards < 2 {
		t.Errorf("NumHistoryShards = %d: a production set-up has more than one", NumHistoryShards)
	}
}

// TestDynamicConfig checks the repository's file has the server's shape
// (key: list of {value, constraints}) and that a dedicated server's
// values override it.
func TestDynamicConfig(t *testing.T) {
	root, err := RepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(root, DynamicConfigFile)
	out, err := mergeDynamicConfig(path, map[string]any{"limit.historyCount.suggestContinueAsNew": 40, "frontend.namespaceRPS.visibility": 7})
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string][]struct {
		Value       any            `yaml:"value"`
		Constraints map[string]any `yaml:"constraints"`
	}
	if err := yaml.Unmarshal(out, &doc); err != nil {
		t.Fatalf("merged dynamic config has the wrong shape: %v\n%s", err, out)
	}
	if v := doc["limit.historyCount.suggestContinueAsNew"]; len(v) != 1 || v[0].Value != 40 {
		t.Errorf("suggestContinueAsNew = %+v, want one value 40", v)
	}
	if v := doc["frontend.namespaceRPS.visibility"]; len(v) != 1 || v[0].Value != 7 {
		t.Errorf("visibility RPS = %+v, want the override 7", v)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("%s has the wrong shape: %v", DynamicConfigFile, err)
	}
}
