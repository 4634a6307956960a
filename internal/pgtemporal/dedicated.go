package pgtemporal

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"gopkg.in/yaml.v3"
)

// Dedicated is a second Temporal server on a running cluster's PostgreSQL,
// on databases of its own, for a caller that needs other dynamic config.
type Dedicated struct {
	*Server
	state    State
	dbs      []string
	dir      string
	keepLogs bool
}

// StartDedicated starts a server on fresh copies of the cluster's template
// databases, with the cluster's dynamic config file plus values (key ->
// value, overriding the file's), and registers the default namespace with
// attrs. Its files live in a temporary directory under the cluster's.
func (st State) StartDedicated(ctx context.Context, values map[string]any, attrs map[string]enumspb.IndexedValueType) (_ *Dedicated, err error) {
	id, err := randomID()
	if err != nil {
		return nil, err
	}
	d := &Dedicated{state: st, dir: filepath.Join(st.Dir, "dedicated", id)}
	if err := os.MkdirAll(d.dir, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", d.dir, err)
	}
	defer func() {
		if err != nil {
			d.keepLogs = true
			err = errors.Join(err, d.Stop())
		}
	}()
	dc, err := mergeDynamicConfig(st.DynamicConfig, values)
	if err != nil {
		return nil, err
	}
	dcPath := filepath.Join(d.dir, "dynamicconfig.yaml")
	if err := os.WriteFile(dcPath, dc, 0o644); err != nil {
		return nil, fmt.Errorf("write dynamic config: %w", err)
	}
	db, visDB := "tandem_"+id, "tandem_"+id+"_visibility"
	for src, dst := range map[string]string{templateDB: db, templateVisibilityDB: visDB} {
		if err := psql(ctx, st.PostgresBin, st.PostgresPort, "postgres", fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s", dst, src)); err != nil {
			return nil, fmt.Errorf("create database %s: %w", dst, err)
		}
		d.dbs = append(d.dbs, dst)
		// The server checks the schema version recorded under its database's name.
		if err := psql(ctx, st.PostgresBin, st.PostgresPort, dst, fmt.Sprintf("UPDATE schema_version SET db_name = '%s'", dst)); err != nil {
			return nil, fmt.Errorf("database %s: %w", dst, err)
		}
	}
	d.Server, err = StartServer(ctx, ServerOptions{
		Binary: st.ServerBinary, PostgresPort: st.PostgresPort, DBName: db, VisibilityDBName: visDB,
		DynamicConfigPath: dcPath, LogPath: filepath.Join(d.dir, "temporal.log"),
	})
	if err != nil {
		return nil, err
	}
	ds := st
	ds.Address = d.Address
	if err := ds.NewNamespace(ctx, DefaultNamespace, attrs); err != nil {
		return nil, err
	}
	return d, nil
}

// Halt stops the server and keeps its databases, for Resume.
func (d *Dedicated) Halt() error {
	if d.Server == nil {
		return nil
	}
	return d.Server.Stop()
}

// Resume starts the server Halt stopped again, on its databases and ports.
func (d *Dedicated) Resume(ctx context.Context) error {
	s, err := StartServer(ctx, d.Server.Options())
	if err != nil {
		return fmt.Errorf("restart the Temporal server on %s: %w", d.Address, err)
	}
	d.Server = s
	return nil
}

// Stop stops the server and drops its databases and files (the files stay
// when it failed to start).
func (d *Dedicated) Stop() error {
	var err error
	if d.Server != nil {
		err = d.Server.Stop()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, db := range d.dbs {
		if dropErr := psql(ctx, d.state.PostgresBin, d.state.PostgresPort, "postgres", "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)"); dropErr != nil {
			err = errors.Join(err, dropErr)
		}
	}
	if !d.keepLogs {
		_ = os.RemoveAll(d.dir)
	}
	return err
}

// mergeDynamicConfig returns the YAML of the file at path with values set
// as unconstrained values.
func mergeDynamicConfig(path string, values map[string]any) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read dynamic config: %w", err)
	}
	doc := map[string]any{}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("parse dynamic config %s: %w", path, err)
	}
	if doc == nil {
		doc = map[string]any{}
	}
	for k, v := range values {
		doc[k] = []map[string]any{{"value": v}}
	}
	out, err := yaml.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("encode dynamic config: %w", err)
	}
	return out, nil
}

func randomID() (string, error) {
	var b [5]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("random id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}
