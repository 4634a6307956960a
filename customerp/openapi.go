package customerp

import (
	"context"
	_ "embed"
	"fmt"
	"sort"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
)

//go:embed openapi.yaml
var openapiYAML []byte

// OpenAPI returns the contract, customerp/openapi.yaml (OpenAPI 3.0.3), as embedded in the
// binary. The caller gets its own copy.
func OpenAPI() []byte {
	out := make([]byte, len(openapiYAML))
	copy(out, openapiYAML)
	return out
}

// LoadSpec parses and validates the embedded contract. Each call returns a new document, so
// callers may use it freely (routers, validators).
func LoadSpec(ctx context.Context) (*openapi3.T, error) {
	loader := openapi3.NewLoader()
	loader.Context = ctx
	doc, err := loader.LoadFromData(OpenAPI())
	if err != nil {
		return nil, fmt.Errorf("customerp: parse openapi.yaml: %w", err)
	}
	if err := doc.Validate(ctx); err != nil {
		return nil, fmt.Errorf("customerp: openapi.yaml is not a valid OpenAPI document: %w", err)
	}
	return doc, nil
}

// RecordSchema returns the schema of resource r's records from doc: the request body schema of
// `POST /<r>`.
func RecordSchema(doc *openapi3.T, r Resource) (*openapi3.Schema, error) {
	item := doc.Paths.Find("/" + string(r))
	if item == nil || item.Post == nil || item.Post.RequestBody == nil || item.Post.RequestBody.Value == nil {
		return nil, fmt.Errorf("customerp: openapi.yaml has no POST /%s with a body", r)
	}
	mt := item.Post.RequestBody.Value.Content.Get("application/json")
	if mt == nil || mt.Schema == nil || mt.Schema.Value == nil {
		return nil, fmt.Errorf("customerp: POST /%s has no application/json schema", r)
	}
	return mt.Schema.Value, nil
}

// schemaInfo is what the client needs from the contract: property paths per resource.
type schemaInfo struct {
	all      map[Resource][]string
	writable map[Resource][]string
	readOnly map[Resource]map[string]bool
	filters  map[Resource][]string
}

// loadSchemaInfo derives schemaInfo from the embedded document; it runs once per process, and
// the result is never modified afterwards.
var loadSchemaInfo = sync.OnceValues(func() (*schemaInfo, error) {
	doc, err := LoadSpec(context.Background())
	if err != nil {
		return nil, err
	}
	info := &schemaInfo{
		all:      map[Resource][]string{},
		writable: map[Resource][]string{},
		readOnly: map[Resource]map[string]bool{},
		filters:  map[Resource][]string{},
	}
	for _, r := range Resources() {
		s, err := RecordSchema(doc, r)
		if err != nil {
			return nil, err
		}
		ro := map[string]bool{}
		var all, writable []string
		for name, prop := range s.Properties {
			p := prop.Value
			paths := []string{name}
			if p.Type.Is(openapi3.TypeObject) {
				for sub := range p.Properties {
					paths = append(paths, name+"."+sub)
				}
			}
			all = append(all, paths...)
			if p.ReadOnly {
				ro[name] = true
			} else {
				writable = append(writable, paths...)
			}
		}
		var filters []string
		if item := doc.Paths.Find("/" + string(r)); item != nil && item.Get != nil {
			for _, p := range item.Get.Parameters {
				if p.Value != nil && p.Value.In == openapi3.ParameterInQuery && p.Value.Name != "limit" && p.Value.Name != "after" {
					filters = append(filters, p.Value.Name)
				}
			}
		}
		sort.Strings(filters)
		info.filters[r] = filters
		sort.Strings(all)
		sort.Strings(writable)
		info.all[r], info.writable[r], info.readOnly[r] = all, writable, ro
	}
	return info, nil
})

// Properties returns every property path of resource r's records, readable or writable,
// sorted, as openapi.yaml defines them. Nested object fields appear as dotted paths
// ("postalAddress.line1") next to their parent ("postalAddress"). It returns nil for an
// unknown resource.
func Properties(r Resource) []string {
	info, err := loadSchemaInfo()
	if err != nil {
		return nil
	}
	return append([]string(nil), info.all[r]...)
}

// WritableProperties returns the property paths of resource r that a client may send, sorted;
// read-only ones (id, version, updatedAt, lineId, lines, totalAmount) are left out.
func WritableProperties(r Resource) []string {
	info, err := loadSchemaInfo()
	if err != nil {
		return nil
	}
	return append([]string(nil), info.writable[r]...)
}

// HasProperty reports whether path (dotted for nested fields) is a property of resource r.
func HasProperty(r Resource, path string) bool {
	for _, p := range Properties(r) {
		if p == path {
			return true
		}
	}
	return false
}

func readOnlyProps(r Resource) map[string]bool {
	info, err := loadSchemaInfo()
	if err != nil {
		return nil
	}
	return info.readOnly[r]
}
