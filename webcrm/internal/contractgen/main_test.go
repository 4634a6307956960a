package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tandemsync/tandem/webcrm"
	"github.com/tandemsync/tandem/webcrm/contract"
)

// keptPath is the kept contract on disk, relative to this package.
var keptPath = filepath.Join("..", "..", "contract", contract.File)

// TestKeptContractMatchesGenerator fails when the kept contract and its generator
// disagree. It always regenerates the kept file from itself and requires the same bytes
// (so a hand edit the generator would not write fails, a changed value included, through
// x-content-sha256); when the published swagger is at hand ($WEBCRM_SWAGGER) it also regenerates
// from that and requires the same bytes and the recorded sha256.
func TestKeptContractMatchesGenerator(t *testing.T) {
	kept, err := os.ReadFile(keptPath)
	require.NoError(t, err)
	require.True(t, bytes.Equal(kept, contract.Kept()), "the embedded contract is the file on disk")

	again, err := Generate(kept)
	require.NoError(t, err)
	if d := firstDiff(kept, again); d != "" {
		t.Fatalf("the kept contract is not what contractgen writes from it (%s): regenerate with go generate ./webcrm, never edit it by hand", d)
	}

	path, ok, err := contract.Published()
	require.NoError(t, err)
	if !ok {
		t.Logf("no published swagger at %s (set %s to compare with it); the kept contract was checked against itself", path, contract.EnvVar)
		return
	}
	published, err := os.ReadFile(path)
	require.NoError(t, err, "%s names the published swagger", contract.EnvVar)
	if bytes.Contains(published, []byte(`"`+contract.DerivedFromKey+`"`)) {
		t.Logf("%s is a derived contract, not the published swagger; only checked against itself", path)
		return
	}
	fromPublished, err := Generate(published)
	require.NoError(t, err)
	if d := firstDiff(kept, fromPublished); d != "" {
		t.Fatalf("the kept contract is stale against %s (%s): run go generate ./webcrm", path, d)
	}
	var header map[string]any
	require.NoError(t, json.Unmarshal(kept, &header))
	require.Equal(t, "sha256:"+sha256Hex(published), header[contract.DerivedFromKey])
}

// firstDiff describes the first line where kept and generated differ; "" when equal.
func firstDiff(kept, generated []byte) string {
	if bytes.Equal(kept, generated) {
		return ""
	}
	k, g := strings.Split(string(kept), "\n"), strings.Split(string(generated), "\n")
	for i := 0; i < len(k) || i < len(g); i++ {
		var kl, gl string
		if i < len(k) {
			kl = k[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if kl != gl || i >= len(k) || i >= len(g) {
			return fmt.Sprintf("line %d: kept %q, generated %q", i+1, kl, gl)
		}
	}
	return "same lines, different bytes"
}

// TestHandEditsAreCaught edits the kept contract the way a person might and checks that
// the generator's output no longer equals the edited file.
func TestHandEditsAreCaught(t *testing.T) {
	t.Parallel()
	kept := contract.Kept()
	edits := map[string]func(string) string{
		"a limit changed": func(s string) string {
			return strings.Replace(s, `"maxLength": 200`, `"maxLength": 250`, 1)
		},
		"prose added": func(s string) string {
			return strings.Replace(s, `"type": "string"`, `"description": "a note", "type": "string"`, 1)
		},
		"indentation": func(s string) string { return strings.ReplaceAll(s, "\n  ", "\n    ") },
		"a path removed": func(s string) string {
			var doc map[string]any
			require.NoError(t, json.Unmarshal([]byte(s), &doc))
			delete(doc["paths"].(map[string]any), "/Queries")
			b, err := json.MarshalIndent(doc, "", "  ")
			require.NoError(t, err)
			return string(b) + "\n"
		},
	}
	for name, edit := range edits {
		edited := edit(string(kept))
		require.NotEqual(t, string(kept), edited, name)
		out, err := Generate([]byte(edited))
		if err != nil {
			continue // refused outright
		}
		require.NotEqual(t, edited, string(out), "%s: the generator reproduces the hand edit", name)
	}
}

// miniSwagger is a published-style document with every selected path, prose everywhere,
// a definition reached only through another one and one that nothing references.
func miniSwagger(t *testing.T) map[string]any {
	t.Helper()
	paths := map[string]any{}
	for _, p := range selectedPaths() {
		paths[p] = map[string]any{"get": map[string]any{
			"tags": []any{"T"}, "summary": "Gets", "description": "Long text", "operationId": "Op",
			"consumes": []any{}, "produces": []any{"application/json"},
			"parameters": []any{map[string]any{"name": "Size", "in": "query", "required": false, "type": "integer",
				"format": "int32", "maximum": 1000, "minimum": 1, "description": "page size"}},
			"responses": map[string]any{
				"200": map[string]any{"description": "Success", "schema": map[string]any{"$ref": "#/definitions/ADto"}},
				"401": map[string]any{"description": "Unauthorized"},
			},
			"x-note": "prose",
		}}
	}
	return map[string]any{
		"swagger": "2.0",
		"info":    map[string]any{"title": "API", "version": "v1", "description": "About", "contact": map[string]any{"name": "x"}},
		"paths":   paths,
		"definitions": map[string]any{
			"ADto": map[string]any{"type": "object", "required": []any{"AId"}, "title": "A", "properties": json.RawMessage(`{
				"AName": {"type": "string", "maxLength": 50, "example": "Acme"},
				"AId": {"type": "integer", "format": "int32", "description": "the id"},
				"ABs": {"type": "array", "items": {"$ref": "#/definitions/BDto"}}}`),
			},
			"BDto":      map[string]any{"type": "object", "properties": map[string]any{"BKind": map[string]any{"type": "string", "enum": []any{"X", "Y"}}}},
			"UnusedDto": map[string]any{"type": "object", "properties": map[string]any{}},
		},
		"x-generator": "prose",
	}
}

func TestGenerateKeepsLimitsAndDropsProse(t *testing.T) {
	t.Parallel()
	raw, err := json.Marshal(miniSwagger(t))
	require.NoError(t, err)
	out, err := Generate(raw)
	require.NoError(t, err)
	for _, prose := range []string{"summary", "operationId", "tags", `"title": "A"`, "example", "x-note", "x-generator",
		"Long text", "page size", "the id", "Success", "Unauthorized", "About", "contact", "UnusedDto"} {
		require.False(t, strings.Contains(string(out), prose), "%s is in the contract", prose)
	}
	var doc struct {
		Info        map[string]string `json:"info"`
		Definitions map[string]struct {
			Required   []string                  `json:"required"`
			Properties map[string]map[string]any `json:"properties"`
		} `json:"definitions"`
		Paths       map[string]map[string]map[string]any `json:"paths"`
		DerivedFrom string                               `json:"x-derived-from"`
	}
	require.NoError(t, json.Unmarshal(out, &doc))
	require.Equal(t, map[string]string{"title": "API", "version": "v1"}, doc.Info)
	require.Equal(t, "sha256:"+sha256Hex(raw), doc.DerivedFrom)
	require.Len(t, doc.Definitions, 2, "ADto and, through it, BDto")
	require.Equal(t, []string{"AId"}, doc.Definitions["ADto"].Required)
	require.EqualValues(t, 50, doc.Definitions["ADto"].Properties["AName"]["maxLength"])
	require.Equal(t, []any{"X", "Y"}, doc.Definitions["BDto"].Properties["BKind"]["enum"])
	get := doc.Paths["/Queries"]["get"]
	param := get["parameters"].([]any)[0].(map[string]any)
	require.Equal(t, map[string]any{"name": "Size", "in": "query", "required": false, "type": "integer", "format": "int32",
		"maximum": 1000.0, "minimum": 1.0}, param)
	require.Equal(t, map[string]any{"description": ""}, get["responses"].(map[string]any)["401"], "the required description stays, empty")
	require.Len(t, doc.Paths, len(selectedPaths()))

	// Properties keep the published order (AName, AId, ABs), every other key is sorted.
	name, id, bs := bytes.Index(out, []byte(`"AName"`)), bytes.Index(out, []byte(`"AId"`)), bytes.Index(out, []byte(`"ABs"`))
	require.True(t, name >= 0 && name < id && id < bs, "property order")
	require.Less(t, bytes.Index(out, []byte(`"definitions"`)), bytes.Index(out, []byte(`"info"`)))

	// Deterministic and idempotent.
	again, err := Generate(raw)
	require.NoError(t, err)
	require.Equal(t, string(out), string(again))
	fromOut, err := Generate(out)
	require.NoError(t, err)
	require.Equal(t, string(out), string(fromOut))
}

func TestGenerateRefusesWhatItCannotKeep(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		edit func(map[string]any)
		want string
	}{
		"unknown schema field": {func(d map[string]any) {
			d["definitions"].(map[string]any)["BDto"].(map[string]any)["xml"] = map[string]any{"name": "b"}
		}, `definitions.BDto: unknown field "xml"`},
		"missing path": {func(d map[string]any) { delete(d["paths"].(map[string]any), "/Auth/ApiLogin") }, "path /Auth/ApiLogin missing"},
		"foreign reference": {func(d map[string]any) {
			d["definitions"].(map[string]any)["BDto"].(map[string]any)["properties"] = map[string]any{"P": map[string]any{"$ref": "other.json#/X"}}
		}, "unsupported reference"},
		"not swagger 2.0": {func(d map[string]any) { d["swagger"] = "3.0" }, "not a swagger 2.0 document"},
	}
	for name, c := range cases {
		doc := miniSwagger(t)
		c.edit(doc)
		raw, err := json.Marshal(doc)
		require.NoError(t, err)
		_, err = Generate(raw)
		require.ErrorContains(t, err, c.want, name)
	}
	_, err := Generate([]byte(`{"swagger": "2.0", "swagger": "2.0"}`))
	require.ErrorContains(t, err, "duplicate key")
}

// TestEntitiesAreTheClients keeps the generator's entity list in step with the client's.
func TestEntitiesAreTheClients(t *testing.T) {
	t.Parallel()
	var client []string
	for _, e := range webcrm.Entities() {
		client = append(client, string(e))
	}
	slices.Sort(client)
	mine := entities()
	slices.Sort(mine)
	require.Equal(t, client, mine)
}

func TestRunWritesTheContract(t *testing.T) {
	t.Parallel()
	out := filepath.Join(t.TempDir(), contract.File)
	var log bytes.Buffer
	require.NoError(t, run(keptPath, out, &log))
	got, err := os.ReadFile(out)
	require.NoError(t, err)
	require.Empty(t, firstDiff(contract.Kept(), got))
	require.ErrorContains(t, run(filepath.Join(t.TempDir(), "missing.json"), out, &log), "reading the swagger")
}
