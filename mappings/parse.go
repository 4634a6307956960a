package mappings

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/tandemsync/tandem/domain"
	"gopkg.in/yaml.v3"
)

// parsedFile is one mapping file after parsing and the checks that need only this file.
type parsedFile struct {
	file      string
	p         *Pairing
	nameLine  int
	depLines  map[string]int    // referenced pairing → line of the first reference
	depFields map[string]string // referenced pairing → field (or key) that references it
	failed    bool
}

// parser reads one file's YAML nodes into a Pairing, collecting problems as it goes.
type parser struct {
	file    string
	schemas Schemas
	probs   []Problem
	p       *Pairing
	pf      *parsedFile
	lines   map[string]int // "webcrm:<prop>" / "erp:<prop>" → line of a required-on-create entry
	// refLines holds, per field, the line of its references key.
	refLines map[string]int
	// valueLines holds the line of each enum value entry ("<field>\x00<canonical>").
	valueLines map[string]int
}

// pair is a mapping entry with its key node.
type pair struct{ key, val *yaml.Node }

func (ps *parser) errf(n *yaml.Node, field, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	ps.probs = append(ps.probs, Problem{File: ps.file, Line: line, Field: field, Message: fmt.Sprintf(format, args...)})
}

// mapping reads a mapping node, reporting unknown and repeated keys.
func (ps *parser) mapping(n *yaml.Node, field, where string, allowed ...string) map[string]pair {
	out := map[string]pair{}
	if n == nil {
		return out
	}
	if n.Kind != yaml.MappingNode {
		ps.errf(n, field, "%s must be a set of key: value lines", where)
		return out
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !slices.Contains(allowed, k.Value) {
			ps.errf(k, field, "unknown key %q in %s (allowed: %s)", k.Value, where, strings.Join(allowed, ", "))
			continue
		}
		if _, dup := out[k.Value]; dup {
			ps.errf(k, field, "key %q appears twice in %s", k.Value, where)
			continue
		}
		out[k.Value] = pair{k, v}
	}
	return out
}

// str reads a text scalar.
func (ps *parser) str(n *yaml.Node, field, what string) (string, bool) {
	if n == nil {
		return "", false
	}
	if n.Kind != yaml.ScalarNode || n.ShortTag() == "!!null" {
		ps.errf(n, field, "%s must be a single word or text", what)
		return "", false
	}
	v := strings.TrimSpace(n.Value)
	if v == "" {
		ps.errf(n, field, "%s is empty", what)
		return "", false
	}
	return v, true
}

// requiredStr reads the text under key, reporting at n when the key is missing.
func (ps *parser) requiredStr(m map[string]pair, n *yaml.Node, key, field, missing, what string) (string, *yaml.Node, bool) {
	kv, ok := m[key]
	if !ok {
		ps.errf(n, field, "%s", missing)
		return "", nil, false
	}
	v, ok := ps.str(kv.val, field, what)
	return v, kv.val, ok
}

// word reads a scalar that must be one of the allowed words.
func (ps *parser) word(n *yaml.Node, field, what string, allowed ...string) (string, bool) {
	v, ok := ps.str(n, field, what)
	if !ok {
		return "", false
	}
	if !slices.Contains(allowed, v) {
		ps.errf(n, field, "%s %q is not one of: %s", what, v, strings.Join(allowed, ", "))
		return "", false
	}
	return v, true
}

// strList reads a list of text scalars; a single scalar counts as a list of one.
func (ps *parser) strList(n *yaml.Node, field, what string) ([]string, []*yaml.Node) {
	if n == nil {
		return nil, nil
	}
	if n.Kind == yaml.ScalarNode {
		if v, ok := ps.str(n, field, what); ok {
			return []string{v}, []*yaml.Node{n}
		}
		return nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		ps.errf(n, field, "%s must be a list", what)
		return nil, nil
	}
	var out []string
	var nodes []*yaml.Node
	for _, c := range n.Content {
		if v, ok := ps.str(c, field, what); ok {
			out = append(out, v)
			nodes = append(nodes, c)
		}
	}
	return out, nodes
}

// value reads a scalar as a Go value: text, true/false, a whole number (int64), a decimal
// (json.Number) or nothing (nil).
func (ps *parser) value(n *yaml.Node, field, what string) (any, bool) {
	if n == nil {
		return nil, false
	}
	if n.Kind != yaml.ScalarNode {
		ps.errf(n, field, "%s must be a single value", what)
		return nil, false
	}
	switch n.ShortTag() {
	case "!!null":
		return nil, true
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			ps.errf(n, field, "%s: %v", what, err)
			return nil, false
		}
		return b, true
	case "!!int":
		i, err := strconv.ParseInt(n.Value, 0, 64)
		if err != nil {
			ps.errf(n, field, "%s: %q is not a whole number that fits", what, n.Value)
			return nil, false
		}
		return i, true
	case "!!float":
		d, err := normDecimal(n.Value)
		if err != nil || d == nil {
			ps.errf(n, field, "%s: %q is not a decimal number", what, n.Value)
			return nil, false
		}
		return json.Number(d.(string)), true
	}
	return n.Value, true
}

func (ps *parser) intValue(n *yaml.Node, field, what string) (int, bool) {
	v, ok := ps.value(n, field, what)
	if !ok {
		return 0, false
	}
	i, isInt := v.(int64)
	if !isInt || i <= 0 || i > 1<<31 {
		ps.errf(n, field, "%s must be a positive whole number", what)
		return 0, false
	}
	return int(i), true
}

func (ps *parser) boolValue(n *yaml.Node, field, what string) (bool, bool) {
	v, ok := ps.value(n, field, what)
	if !ok {
		return false, false
	}
	b, isBool := v.(bool)
	if !isBool {
		ps.errf(n, field, "%s must be true or false", what)
		return false, false
	}
	return b, true
}

func (ps *parser) checkProperty(n *yaml.Node, field string, side domain.Side, prop string) bool {
	if side == domain.WebCRM {
		if ps.schemas.WebCRM != nil && !ps.schemas.WebCRM(ps.p.WebCRMEntity, prop) {
			ps.errf(n, field, "unknown webCRM property %q for %s", prop, ps.p.WebCRMEntity)
			return false
		}
		return true
	}
	if ps.schemas.ERP != nil && !ps.schemas.ERP(ps.p.ERPResource, prop) {
		ps.errf(n, field, "unknown ERP property %q for %s", prop, ps.p.ERPResource)
		return false
	}
	return true
}

// notWritten says why a property WebCRMWriteExcluded names is refused.
const notWritten = "is never written to webCRM (a credential or a field webCRM maintains)"

// writeExcluded reports a webCRM property that tandem must never write.
func (ps *parser) writeExcluded(prop string) bool {
	return ps.schemas.WebCRMWriteExcluded != nil && ps.schemas.WebCRMWriteExcluded(ps.p.WebCRMEntity, prop)
}

func (ps *parser) kind(side domain.Side, prop string) Kind {
	if side == domain.WebCRM {
		if ps.schemas.WebCRMKind != nil {
			return ps.schemas.WebCRMKind(ps.p.WebCRMEntity, prop)
		}
		return KindUnknown
	}
	if ps.schemas.ERPKind != nil {
		return ps.schemas.ERPKind(ps.p.ERPResource, prop)
	}
	return KindUnknown
}

// checkValueKind reports a fixed value (constant, enum value, deactivation value) that
// does not fit its property's kind.
func (ps *parser) checkValueKind(n *yaml.Node, field string, side domain.Side, prop string, v any) {
	k := ps.kind(side, prop)
	if k == KindUnknown || v == nil || valueFits(v, k) {
		return
	}
	ps.errf(n, field, "type mismatch: value %s does not fit %s property %q, which holds %s", describe(v), side.Label(), prop, kindWords(k))
}

func valueFits(v any, k Kind) bool {
	switch v.(type) {
	case bool:
		return k == KindBoolean
	case int64:
		return k == KindInteger || k == KindNumber
	case json.Number:
		return k == KindNumber
	case string:
		return k == KindString || k == KindDate || k == KindDateTime
	}
	return false
}

func kindWords(k Kind) string {
	switch k {
	case KindString:
		return "text"
	case KindInteger:
		return "whole numbers"
	case KindNumber:
		return "decimal numbers"
	case KindBoolean:
		return "true/false"
	case KindDate:
		return "dates"
	case KindDateTime:
		return "dates with time"
	}
	return string(k)
}

// typeFits reports whether a field of type t can live in a property of kind k.
func typeFits(t Type, side domain.Side, k Kind) bool {
	switch t {
	case TypeString:
		return k == KindString
	case TypeInt:
		return k == KindInteger || k == KindNumber
	case TypeDecimal:
		return k == KindNumber || k == KindInteger
	case TypeBool:
		return k == KindBoolean
	case TypeDate:
		return k == KindDate || k == KindDateTime || k == KindString
	case TypeDateTime:
		return k == KindDateTime || k == KindString
	case TypeID:
		if side == domain.WebCRM {
			return k == KindInteger
		}
		return k == KindString || k == KindInteger
	}
	return true // enums are checked value by value
}

var (
	keysTop      = []string{"pairing", "description", "webcrm", "erp", "create", "gate", "review", "delete", "match", "depends-on", "fields", "erp-sync-time"}
	keysWebCRM   = []string{"entity", "correlation-field", "required-on-create", "constants"}
	keysERP      = []string{"resource", "filter", "required-on-create", "constants"}
	keysDelete   = []string{"policy", "deactivate-in-webcrm", "deactivate-in-erp"}
	keysDeact    = []string{"property", "value"}
	keysMatch    = []string{"field", "normalise"}
	keysField    = []string{"name", "description", "type", "webcrm", "erp", "direction", "owner", "transforms", "references", "values", "unmapped"}
	keysSide     = []string{"property", "lines", "name-parts", "derived", "empty", "max-length", "immutable"}
	keysName     = []string{"full", "first", "last"}
	keysRule     = []string{"if", "equals", "is-set", "then"}
	keysValue    = []string{"canonical", "webcrm", "erp", "also-webcrm", "also-erp"}
	wordsType    = []string{"string", "int", "decimal", "bool", "date", "datetime", "enum", "id"}
	wordsDir     = []string{string(Both), string(WebCRMToERP), string(ERPToWebCRM)}
	wordsOwner   = []string{string(OwnerWebCRM), string(OwnerERP), string(OwnerNewest)}
	wordsPolicy  = []string{string(Propagate), string(Deactivate), string(Ignore)}
	wordsGate    = []string{GateAll, GateWonOnly}
	wordsNorm    = []string{NormaliseExact, NormaliseLower, NormaliseIdentifier}
	wordsXform   = []string{"trim", "lower", "upper"}
	wordsUnmaped = []string{UnmappedFail, UnmappedWarn}
)

// parseFile parses and checks one mapping file. base is the file name without extension.
func parseFile(file, base string, data []byte, s Schemas) (*parsedFile, []Problem) {
	ps := &parser{file: file, schemas: s, p: &Pairing{byName: map[string]int{}}, lines: map[string]int{}, refLines: map[string]int{}, valueLines: map[string]int{}}
	ps.pf = &parsedFile{file: file, p: ps.p, depLines: map[string]int{}, depFields: map[string]string{}}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		line := 0
		msg := err.Error()
		if m := yamlLine.FindStringSubmatch(msg); m != nil {
			line, _ = strconv.Atoi(m[1])
			// yaml.v3 counts the lines of its "did not find expected …"
			// errors from 0 (the block that is not closed); the others from 1.
			if strings.Contains(msg, "did not find expected") {
				line++
				msg = strings.Replace(msg, m[0], strings.Replace(m[0], m[1], strconv.Itoa(line), 1), 1)
			}
		}
		return nil, []Problem{{File: file, Line: line, Message: "not valid YAML: " + strings.TrimPrefix(msg, "yaml: ")}}
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, []Problem{{File: file, Message: "the file is empty"}}
	}
	top := ps.mapping(doc.Content[0], "", "the file", keysTop...)
	ps.parseHeader(top, doc.Content[0], base)
	ps.parseFields(top, doc.Content[0])
	ps.parseMatch(top)
	ps.parseDelete(top, doc.Content[0])
	ps.parseDependsOn(top)
	ps.checkFile(top)
	ps.pf.failed = len(ps.probs) > 0
	if ps.p.Name == "" {
		return nil, ps.probs
	}
	return ps.pf, ps.probs
}

func (ps *parser) require(top map[string]pair, root *yaml.Node, key string) (*yaml.Node, bool) {
	kv, ok := top[key]
	if !ok {
		ps.errf(root, key, "missing key %q", key)
		return nil, false
	}
	return kv.val, true
}

func (ps *parser) parseHeader(top map[string]pair, root *yaml.Node, base string) {
	p := ps.p
	if n, ok := ps.require(top, root, "pairing"); ok {
		if name, ok := ps.str(n, "pairing", "the pairing name"); ok {
			p.Name = name
			ps.pf.nameLine = n.Line
			if name != base {
				ps.errf(n, "pairing", "pairing %q must be in a file named %s.yaml", name, name)
			}
		}
	}
	p.File = ps.file
	if n, ok := ps.require(top, root, "webcrm"); ok {
		m := ps.mapping(n, "webcrm", "webcrm", keysWebCRM...)
		p.WebCRMEntity, _, _ = ps.requiredStr(m, n, "entity", "webcrm.entity", `missing key "entity"`, "the webCRM entity")
		if c, ok := m["correlation-field"]; ok {
			if v, ok := ps.str(c.val, "webcrm.correlation-field", "the correlation field"); ok && ps.checkProperty(c.val, "webcrm.correlation-field", domain.WebCRM, v) {
				p.CorrelationField = v
				if k := ps.kind(domain.WebCRM, v); k != KindUnknown && k != KindString {
					ps.errf(c.val, "webcrm.correlation-field", "type mismatch: the correlation field must hold text, but %q holds %s", v, kindWords(k))
				}
			}
		}
		p.WebCRMRequired = ps.parseRequired(m, domain.WebCRM)
		p.WebCRMConstants = ps.parseConstants(m, domain.WebCRM)
	}
	if n, ok := ps.require(top, root, "erp"); ok {
		m := ps.mapping(n, "erp", "erp", keysERP...)
		p.ERPResource, _, _ = ps.requiredStr(m, n, "resource", "erp.resource", `missing key "resource"`, "the ERP resource")
		if f, ok := m["filter"]; ok {
			p.ERPFilter = map[string]string{}
			fm := ps.mapping(f.val, "erp.filter", "erp.filter", ps.anyKeys(f.val)...)
			for _, k := range sortedKeys(fm) {
				kv := fm[k]
				if v, ok := ps.str(kv.val, "erp.filter", "a filter value"); ok && ps.checkProperty(kv.key, "erp.filter", domain.ERP, k) {
					p.ERPFilter[k] = v
				}
			}
		}
		p.ERPRequired = ps.parseRequired(m, domain.ERP)
		p.ERPConstants = ps.parseConstants(m, domain.ERP)
	}
	if n, ok := ps.require(top, root, "create"); ok {
		if v, ok := ps.word(n, "create", "create", wordsDir...); ok {
			p.Creation = Creation(v)
		}
	}
	p.Gate = GateAll
	if g, ok := top["gate"]; ok {
		if v, ok := ps.word(g.val, "gate", "gate", wordsGate...); ok {
			p.Gate = v
		}
	}
	if r, ok := top["review"]; ok {
		if v, ok := ps.boolValue(r.val, "review", "review"); ok {
			p.Review = v
		}
	}
}

// anyKeys returns the keys of a mapping node, for mappings whose keys are property names.
func (ps *parser) anyKeys(n *yaml.Node) []string {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	var out []string
	for i := 0; i < len(n.Content); i += 2 {
		out = append(out, n.Content[i].Value)
	}
	return out
}

func (ps *parser) parseRequired(m map[string]pair, side domain.Side) []string {
	r, ok := m["required-on-create"]
	if !ok {
		return nil
	}
	field := string(side) + ".required-on-create"
	vals, nodes := ps.strList(r.val, field, "a required property")
	var out []string
	for i, v := range vals {
		if ps.checkProperty(nodes[i], field, side, v) {
			out = append(out, v)
			ps.lines[string(side)+":"+v] = nodes[i].Line
		}
	}
	return out
}

func (ps *parser) parseConstants(m map[string]pair, side domain.Side) map[string]any {
	c, ok := m["constants"]
	if !ok {
		return nil
	}
	field := string(side) + ".constants"
	cm := ps.mapping(c.val, field, field, ps.anyKeys(c.val)...)
	out := map[string]any{}
	for _, k := range sortedKeys(cm) {
		kv := cm[k]
		v, ok := ps.value(kv.val, field, "a constant")
		if !ok || !ps.checkProperty(kv.key, field, side, k) {
			continue
		}
		if side == domain.WebCRM && ps.writeExcluded(k) {
			ps.errf(kv.key, field, "webCRM property %q %s, so it cannot be a constant", k, notWritten)
		}
		ps.checkValueKind(kv.val, field, side, k, v)
		out[k] = v
	}
	return out
}

func (ps *parser) parseDelete(top map[string]pair, root *yaml.Node) {
	n, ok := ps.require(top, root, "delete")
	if !ok {
		return
	}
	m := ps.mapping(n, "delete", "delete", keysDelete...)
	d := &ps.p.DeletePolicy
	if pol, ok := m["policy"]; ok {
		if v, ok := ps.word(pol.val, "delete.policy", "delete policy", wordsPolicy...); ok {
			d.Policy = DeleteAction(v)
		}
	} else {
		ps.errf(n, "delete.policy", "missing key %q", "policy")
	}
	for _, side := range []domain.Side{domain.WebCRM, domain.ERP} {
		key := "deactivate-in-" + string(side)
		kv, ok := m[key]
		if !ok {
			continue
		}
		field := "delete." + key
		dm := ps.mapping(kv.val, field, field, keysDeact...)
		prop, okP := dm["property"]
		val, okV := dm["value"]
		if !okP || !okV {
			ps.errf(kv.val, field, "needs both property and value")
			continue
		}
		name, ok := ps.str(prop.val, field, "the deactivation property")
		if !ok || !ps.checkProperty(prop.val, field, side, name) {
			continue
		}
		if side == domain.WebCRM && ps.writeExcluded(name) {
			ps.errf(prop.val, field, "webCRM property %q %s, so it cannot mark a record inactive", name, notWritten)
		}
		v, ok := ps.value(val.val, field, "the deactivation value")
		if !ok {
			continue
		}
		ps.checkValueKind(val.val, field, side, name, v)
		deact := &Deactivation{Property: name, Value: v}
		if side == domain.WebCRM {
			d.DeactivateWebCRM = deact
		} else {
			d.DeactivateERP = deact
		}
	}
	switch {
	case d.Policy == Deactivate && d.DeactivateWebCRM == nil && d.DeactivateERP == nil:
		ps.errf(n, "delete.policy", "policy deactivate needs deactivate-in-webcrm or deactivate-in-erp (the property and value that mark a record inactive)")
	case d.Policy != Deactivate && d.Policy != "" && (d.DeactivateWebCRM != nil || d.DeactivateERP != nil):
		ps.errf(n, "delete.policy", "deactivate-in-… is only used with policy deactivate, not %s", d.Policy)
	}
}

func (ps *parser) parseMatch(top map[string]pair) {
	kv, ok := top["match"]
	if !ok {
		return
	}
	if kv.val.Kind != yaml.SequenceNode {
		ps.errf(kv.val, "match", "match must be a list of criteria")
		return
	}
	for _, c := range kv.val.Content {
		m := ps.mapping(c, "match", "a match criterion", keysMatch...)
		name, at, ok := ps.requiredStr(m, c, "field", "match", "a match criterion needs a field", "the match field")
		if !ok {
			continue
		}
		norm := NormaliseExact
		if nn, ok := m["normalise"]; ok {
			if norm, ok = ps.word(nn.val, name, "normaliser", wordsNorm...); !ok {
				continue
			}
		}
		f, ok := ps.p.Field(name)
		if !ok {
			ps.errf(at, name, "merge criterion %q is not a mapped field of this pairing", name)
			continue
		}
		if f.Type != TypeString {
			ps.errf(at, name, "type mismatch: normaliser %s needs a text field, but %s is %s", norm, name, f.Type)
			continue
		}
		ps.p.MergeCriteria = append(ps.p.MergeCriteria, MergeKey{Field: name, Normalise: norm})
	}
}

func (ps *parser) parseDependsOn(top map[string]pair) {
	if kv, ok := top["depends-on"]; ok {
		vals, nodes := ps.strList(kv.val, "depends-on", "a pairing name")
		for i, v := range vals {
			ps.addDep(v, nodes[i].Line, "depends-on")
		}
	}
	for _, r := range ps.p.References {
		ps.addDep(r.Pairing, ps.refLines[r.Field], r.Field)
	}
	slices.Sort(ps.p.DependsOn)
}

func (ps *parser) addDep(name string, line int, field string) {
	if !slices.Contains(ps.p.DependsOn, name) {
		ps.p.DependsOn = append(ps.p.DependsOn, name)
	}
	if _, ok := ps.pf.depLines[name]; !ok {
		ps.pf.depLines[name] = line
		ps.pf.depFields[name] = field
	}
}
