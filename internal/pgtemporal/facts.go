package pgtemporal

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// The set-up shared by the native server and docker-compose.yml.
const (
	// NumHistoryShards is the server's history shard count. It is fixed for
	// the life of a cluster's database.
	NumHistoryShards = 4
	// Plugin is the SQL persistence plugin (the server's DB variable).
	Plugin = "postgres12"
	// DBName holds the server's own state.
	DBName = "temporal"
	// VisibilityDBName holds SQL visibility (no Elasticsearch).
	VisibilityDBName = "temporal_visibility"
	// SchemaName and VisibilitySchemaName are the versioned schemas, as
	// embedded in temporal-sql-tool, of the two databases.
	SchemaName           = "postgresql/v12/temporal"
	VisibilitySchemaName = "postgresql/v12/visibility"
	// DynamicConfigFile is the server's dynamic config, relative to the
	// repository root.
	DynamicConfigFile = "deploy/temporal/dynamicconfig.yaml"
	// ToolsModule is the directory of the module that builds the server and
	// the schema tool, relative to the repository root.
	ToolsModule = "tools/temporal-server"
	// ServerModule is the Go module of the Temporal server.
	ServerModule = "go.temporal.io/server"
	// User is the PostgreSQL role the server connects as.
	User = "temporal"
	// DefaultNamespace is registered at start, as on the dev server.
	DefaultNamespace = "default"
)

// SharedEnv is the part of the server's environment (the variables of its
// embedded config template, which the server image reads too) that the
// native set-up and docker-compose.yml must agree on.
func SharedEnv() map[string]string {
	return map[string]string{
		"DB":                 Plugin,
		"DBNAME":             DBName,
		"VISIBILITY_DBNAME":  VisibilityDBName,
		"NUM_HISTORY_SHARDS": strconv.Itoa(NumHistoryShards),
		"ENABLE_ES":          "false",
	}
}

// SchemaSteps returns the temporal-sql-tool sub-commands, after the
// connection flags, that create database db and bring it to the newest
// version of schema.
func SchemaSteps(db, schema string) [][]string {
	return [][]string{
		{"--db", db, "create-database"},
		{"--db", db, "setup-schema", "-v", "0.0"},
		{"--db", db, "update-schema", "--schema-name", schema},
	}
}

// RepoRoot finds the repository root: the nearest directory at or above
// start that holds ToolsModule/go.mod.
func RepoRoot(start string) (string, error) {
	dir, err := filepath.Abs(start)
	if err != nil {
		return "", fmt.Errorf("find the repository root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, ToolsModule, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no %s/go.mod at or above %s: run from inside the tandem repository", ToolsModule, start)
		}
		dir = parent
	}
}

// ServerVersion returns the version of ServerModule pinned in the tools
// module's go.mod under root.
func ServerVersion(root string) (string, error) {
	path := filepath.Join(root, ToolsModule, "go.mod")
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("read the pinned Temporal server version: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(strings.TrimPrefix(strings.TrimSpace(sc.Text()), "require "))
		if len(fields) >= 2 && fields[0] == ServerModule {
			return fields[1], nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	return "", errors.New(path + " does not require " + ServerModule)
}
