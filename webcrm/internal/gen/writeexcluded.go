package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// swaggerDoc is the part of the swagger document gen reads.
type swaggerDoc struct {
	Paths map[string]map[string]struct {
		Parameters []struct {
			In     string `json:"in"`
			Schema *struct {
				Ref   string `json:"$ref"`
				Items *struct {
					Ref string `json:"$ref"`
				} `json:"items"`
			} `json:"schema"`
		} `json:"parameters"`
	} `json:"paths"`
	Definitions map[string]json.RawMessage `json:"definitions"`
}

// writeExcluded is the one rule for the properties tandem never writes to webCRM; name is
// the property name without the entity prefix (UserPassword → Password). It holds for
//   - credentials: a name ending in Password, AuthenticationCode or Ticket (not
//     PasswordInUrl, a flag);
//   - fields webCRM maintains itself: CreatedAt, CreatedBy, UpdatedBy, History, every
//     name ending in UpdatedAt (PasswordUpdatedAt and LastItemUpdatedAt too) or in
//     WrongPasswordCount, and the login and display bookkeeping LastLoginDateTime,
//     LastTryDateTime, LoginCount, LoginLog, TicketExpirationDateTime, LastDisplayedAt
//     and LastItemType.
func writeExcluded(name string) bool {
	for _, secret := range []string{"Password", "AuthenticationCode", "Ticket"} {
		if strings.HasSuffix(name, secret) {
			return true
		}
	}
	for _, stamp := range []string{"UpdatedAt", "WrongPasswordCount"} {
		if strings.HasSuffix(name, stamp) {
			return true
		}
	}
	switch name {
	case "CreatedAt", "CreatedBy", "UpdatedBy", "History",
		"LastLoginDateTime", "LastTryDateTime", "LoginCount", "LoginLog", "TicketExpirationDateTime",
		"LastDisplayedAt", "LastItemType":
		return true
	}
	return false
}

// excludedProperties returns, in document order, the properties of entity's PUT and
// PATCH bodies that writeExcluded rules out.
func excludedProperties(doc swaggerDoc, entity, prefix string) ([]string, error) {
	var bodies []string
	for _, op := range []struct{ path, method string }{{"/" + entity + "/{id}", "put"}, {"/" + entity, "patch"}} {
		o, ok := doc.Paths[op.path][op.method]
		if !ok {
			return nil, fmt.Errorf("%s %s missing", strings.ToUpper(op.method), op.path)
		}
		for _, p := range o.Parameters {
			if p.In != "body" || p.Schema == nil {
				continue
			}
			ref := p.Schema.Ref
			if p.Schema.Items != nil {
				ref = p.Schema.Items.Ref
			}
			name, ok := strings.CutPrefix(ref, "#/definitions/")
			if !ok {
				return nil, fmt.Errorf("%s %s: body is not a definition (%q)", strings.ToUpper(op.method), op.path, ref)
			}
			bodies = append(bodies, name)
		}
	}
	if len(bodies) != 2 {
		return nil, fmt.Errorf("%s: want one body for PUT and one for PATCH, got %v", entity, bodies)
	}
	var out []string
	seen := map[string]bool{}
	for _, def := range bodies {
		raw, ok := doc.Definitions[def]
		if !ok {
			return nil, fmt.Errorf("definition %s missing", def)
		}
		props, err := orderedProperties(raw)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", def, err)
		}
		for _, p := range props {
			name := strings.TrimPrefix(p.name, prefix)
			if !seen[p.name] && writeExcluded(name) {
				seen[p.name] = true
				out = append(out, p.name)
			}
		}
	}
	return out, nil
}

// writeExcludedFunc writes Entity.WriteExcluded, one case per entity of the dtos table.
func writeExcludedFunc(b *bytes.Buffer, doc swaggerDoc) error {
	b.WriteString(`// WriteExcluded returns the properties of e that a PUT or PATCH body must never carry:
// credentials (passwords, authentication codes, tickets) and the fields webCRM maintains
// itself (created and updated stamps, history, login and display bookkeeping). The lists
// are derived from the properties of each entity's PUT and PATCH bodies in the webCRM
// contract by webcrm/internal/gen. The slice is new on every call; an unknown entity
// yields nil.
func (e Entity) WriteExcluded() []string {
	switch e {
`)
	done := map[string]bool{}
	for _, d := range dtos {
		if done[d.entity] {
			continue
		}
		done[d.entity] = true
		props, err := excludedProperties(doc, d.entity, d.prefix)
		if err != nil {
			return fmt.Errorf("write-excluded properties of %s: %w", d.entity, err)
		}
		fmt.Fprintf(b, "\tcase %s:\n\t\treturn []string{\n", d.entity)
		for _, p := range props {
			fmt.Fprintf(b, "\t\t\t%q,\n", p)
		}
		b.WriteString("\t\t}\n")
	}
	b.WriteString("\t}\n\treturn nil\n}\n")
	return nil
}
