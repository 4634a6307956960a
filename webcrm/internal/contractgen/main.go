// Command contractgen writes webcrm/contract/webcrm-contract.json, tandem's kept webCRM
// contract, from webCRM's published swagger 2.0 document: the paths tandem's client calls
// and the simulator serves, every method the published document lists on them, the
// definitions they reference (transitively), and every type, format, enum, length and
// parameter limit, with the prose (descriptions, summaries, titles, examples, tags,
// operation ids and x- extensions) left out. See package webcrm/contract for the format.
//
// Usage (from the webcrm directory, via go generate):
//
//	go run ./internal/contractgen [-in swagger.json] [-out contract/webcrm-contract.json]
//
// The input defaults to $WEBCRM_SWAGGER. When it is unset the kept contract is regenerated from
// itself: the generator is idempotent on its own output, which keeps the source's sha256.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/tandemsync/tandem/webcrm/contract"
)

// Entities are the webCRM resources tandem synchronises (webcrm.Entities).
func entities() []string {
	return []string{"Organisations", "Persons", "Users", "Products", "Opportunities", "QuotationLines"}
}

// selectedPaths are the paths the contract keeps: per entity the collection (GET, POST,
// bulk PATCH), the record (GET, PUT, DELETE where offered), and its hooks; plus login,
// token refresh and /Queries. Every method the published document lists on them is kept,
// since the simulator serves them all.
func selectedPaths() []string {
	out := []string{"/Auth/ApiLogin", "/Auth/ApiRefresh", "/Queries"}
	for _, e := range entities() {
		for _, suffix := range []string{"", "/{id}", "/Hooks", "/Hooks/{id}"} {
			out = append(out, "/"+e+suffix)
		}
	}
	sort.Strings(out)
	return out
}

func main() {
	in := flag.String("in", "", "published swagger 2.0 file (default $"+contract.EnvVar+", else the kept contract)")
	out := flag.String("out", "contract/"+contract.File, "contract file to write")
	flag.Parse()
	if err := run(*in, *out, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "contractgen:", err)
		os.Exit(1)
	}
}

func run(in, out string, log io.Writer) error {
	var raw []byte
	if in == "" {
		p, ok, err := contract.Published()
		if err != nil {
			return err
		}
		if ok {
			in = p
		} else {
			fmt.Fprintf(log, "contractgen: no published swagger (set %s); regenerating the kept contract from itself\n", contract.EnvVar)
			raw = contract.Kept()
		}
	}
	if raw == nil {
		b, err := os.ReadFile(in)
		if err != nil {
			return fmt.Errorf("reading the swagger: %w", err)
		}
		raw = b
	}
	src, err := Generate(raw)
	if err != nil {
		if in != "" {
			return fmt.Errorf("%s: %w", in, err)
		}
		return fmt.Errorf("kept contract: %w", err)
	}
	if err := os.WriteFile(out, src, 0o644); err != nil {
		return fmt.Errorf("writing the contract: %w", err)
	}
	return nil
}

// Generate derives the contract from a swagger 2.0 document: the published one, or a
// contract written earlier (whose x-derived-from is then kept, so Generate is idempotent
// on its own output). x-content-sha256 is the sha256 of the contract as written without
// its two x- fields; Generate recomputes it, so a value edited by hand in the kept file
// makes the regenerated file differ.
func Generate(raw []byte) ([]byte, error) {
	doc, err := parse(raw)
	if err != nil {
		return nil, fmt.Errorf("decoding the swagger: %w", err)
	}
	if doc.obj == nil {
		return nil, errors.New("the swagger is not a JSON object")
	}
	if v, ok := doc.obj.get("swagger"); !ok || string(v.scalar) != `"2.0"` {
		return nil, errors.New(`not a swagger 2.0 document (no "swagger": "2.0")`)
	}
	derived := "sha256:" + sha256Hex(raw)
	if v, ok := doc.obj.get(contract.DerivedFromKey); ok {
		s, isStr := v.str()
		if !isStr || !strings.HasPrefix(s, "sha256:") {
			return nil, fmt.Errorf("%s must be a string sha256:<hex>", contract.DerivedFromKey)
		}
		derived = s
	}

	top := &object{}
	for _, m := range doc.obj.members {
		var v value
		var err error
		switch m.key {
		case "swagger", "host", "basePath", "schemes", "consumes", "produces", "security":
			v = m.val
		case "info":
			v, err = filterObject(m.val, "info", infoField)
		case "securityDefinitions":
			v, err = filterMap(m.val, "securityDefinitions", filterSecurityScheme, true)
		case "paths":
			v, err = filterPaths(m.val)
		case "definitions", contract.DerivedFromKey, contract.ContentHashKey:
			continue // below
		case "tags", "externalDocs":
			continue // prose
		default:
			if strings.HasPrefix(m.key, "x-") {
				continue
			}
			return nil, fmt.Errorf("unknown top-level field %q", m.key)
		}
		if err != nil {
			return nil, err
		}
		top.set(m.key, v)
	}
	paths, ok := top.get("paths")
	if !ok {
		return nil, errors.New("no paths")
	}
	defs, err := filterDefinitions(doc.obj, paths)
	if err != nil {
		return nil, err
	}
	top.set("definitions", defs)
	top.sortKeys()
	content, err := encode(objectValue(top))
	if err != nil {
		return nil, err
	}
	top.set(contract.DerivedFromKey, stringValue(derived))
	top.set(contract.ContentHashKey, stringValue(sha256Hex(content)))
	top.sortKeys()
	return encode(objectValue(top))
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// filterPaths keeps the selected paths, each with all of its methods.
func filterPaths(v value) (value, error) {
	if v.obj == nil {
		return value{}, errors.New("paths: not an object")
	}
	out := &object{}
	for _, p := range selectedPaths() {
		item, ok := v.obj.get(p)
		if !ok {
			return value{}, fmt.Errorf("path %s missing", p)
		}
		f, err := filterObject(item, "paths."+p, pathItemField)
		if err != nil {
			return value{}, err
		}
		out.set(p, f)
	}
	out.sortKeys()
	return objectValue(out), nil
}

// filterDefinitions keeps every definition the kept paths reference, directly or through
// other definitions, sorted by name. A reference to a definition the document does not
// have is kept as it is (the published /Queries answer names ObjectDto, which it never
// defines; the contract tests define it).
func filterDefinitions(doc *object, paths value) (value, error) {
	all := &object{}
	if d, ok := doc.get("definitions"); ok {
		if d.obj == nil {
			return value{}, errors.New("definitions: not an object")
		}
		all = d.obj
	}
	out := &object{}
	queue, err := refs(paths)
	if err != nil {
		return value{}, err
	}
	seen := map[string]bool{}
	for len(queue) > 0 {
		name := queue[0]
		queue = queue[1:]
		if seen[name] {
			continue
		}
		seen[name] = true
		def, ok := all.get(name)
		if !ok {
			continue
		}
		f, err := filterSchema(def, "definitions."+name)
		if err != nil {
			return value{}, err
		}
		out.set(name, f)
		more, err := refs(f)
		if err != nil {
			return value{}, err
		}
		queue = append(queue, more...)
	}
	out.sortKeys()
	return objectValue(out), nil
}

// refs returns the definition names v references with "$ref", in document order.
func refs(v value) ([]string, error) {
	var out []string
	var walk func(value) error
	walk = func(v value) error {
		switch {
		case v.obj != nil:
			for _, m := range v.obj.members {
				if m.key == "$ref" {
					s, _ := m.val.str()
					name, ok := strings.CutPrefix(s, "#/definitions/")
					if !ok || name == "" {
						return fmt.Errorf("unsupported reference %s (only #/definitions/<name>)", m.val.scalar)
					}
					out = append(out, name)
					continue
				}
				if err := walk(m.val); err != nil {
					return err
				}
			}
		case v.isArr:
			for _, e := range v.arr {
				if err := walk(e); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return out, walk(v)
}
