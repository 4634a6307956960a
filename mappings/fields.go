package mappings

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/tandemsync/tandem/domain"
	"gopkg.in/yaml.v3"
)

func (ps *parser) parseFields(top map[string]pair, root *yaml.Node) {
	n, ok := ps.require(top, root, "fields")
	if !ok {
		return
	}
	if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		ps.errf(n, "fields", "fields must be a list with at least one field")
		return
	}
	for _, fn := range n.Content {
		ps.parseField(fn)
	}
}

func (ps *parser) parseField(n *yaml.Node) {
	label := ""
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == "name" && n.Content[i+1].Kind == yaml.ScalarNode {
				label = n.Content[i+1].Value
			}
		}
	}
	m := ps.mapping(n, label, "field "+strconv.Quote(label), keysField...)
	name, at, ok := ps.requiredStr(m, n, "name", "", "a field needs a name", "the field name")
	if !ok {
		return
	}
	if i, dup := ps.p.byName[name]; dup {
		ps.errf(at, name, "duplicate canonical name %q (first defined at line %d)", name, ps.p.Fields[i].Line)
		return
	}
	f := Field{Name: name, Line: n.Line, Type: TypeString, Direction: Both, Owner: OwnerNewest, Unmapped: UnmappedFail}
	if kv, ok := m["type"]; ok {
		if v, ok := ps.word(kv.val, name, "type", wordsType...); ok {
			f.Type = Type(v)
		}
	}
	if kv, ok := m["direction"]; ok {
		if v, ok := ps.word(kv.val, name, "direction", wordsDir...); ok {
			f.Direction = Direction(v)
		}
	}
	if kv, ok := m["owner"]; ok {
		if v, ok := ps.word(kv.val, name, "owner", wordsOwner...); ok {
			f.Owner = Owner(v)
		}
	}
	if kv, ok := m["transforms"]; ok {
		vals, nodes := ps.strList(kv.val, name, "a transform")
		for i, v := range vals {
			if !slices.Contains(wordsXform, v) {
				ps.errf(nodes[i], name, "transform %q is not one of: %s", v, strings.Join(wordsXform, ", "))
				continue
			}
			if f.Type != TypeString {
				ps.errf(nodes[i], name, "type mismatch: transform %s needs a text field, but the field is %s", v, f.Type)
				continue
			}
			f.Transforms = append(f.Transforms, v)
		}
	}
	if kv, ok := m["unmapped"]; ok {
		if v, ok := ps.word(kv.val, name, "unmapped", wordsUnmaped...); ok {
			f.Unmapped = v
		}
		if f.Type != TypeEnum {
			ps.errf(kv.key, name, "type mismatch: unmapped is for enum fields, but the field is %s", f.Type)
		}
	}
	if kv, ok := m["references"]; ok {
		if v, ok := ps.str(kv.val, name, "the referenced pairing"); ok {
			if f.Type != TypeID {
				ps.errf(kv.key, name, "type mismatch: references needs type id, but the field is %s", f.Type)
			} else {
				f.References = v
				ps.refLines[name] = kv.val.Line
				ps.p.References = append(ps.p.References, Reference{Field: name, Pairing: v})
			}
		}
	} else if f.Type == TypeID {
		ps.errf(n, name, "a field of type id needs references: <pairing>")
	}
	if kv, ok := m["values"]; ok {
		if f.Type != TypeEnum {
			ps.errf(kv.key, name, "type mismatch: values is for enum fields, but the field is %s", f.Type)
		} else {
			f.Values = ps.parseValues(kv.val, name)
		}
	} else if f.Type == TypeEnum {
		ps.errf(n, name, "an enum field needs values: a table of canonical, webcrm and erp values")
	}
	for _, side := range []domain.Side{domain.WebCRM, domain.ERP} {
		kv, ok := m[string(side)]
		if !ok {
			ps.errf(n, name, "missing key %q (where the field lives in %s)", side, side.Label())
			continue
		}
		*f.Side(side) = ps.parseSide(kv.val, &f, side)
	}
	ps.checkField(&f, m)
	f.indexValues()
	ps.p.byName[name] = len(ps.p.Fields)
	ps.p.Fields = append(ps.p.Fields, f)
}

func (ps *parser) parseValues(n *yaml.Node, field string) []EnumValue {
	if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		ps.errf(n, field, "values must be a list of {canonical, webcrm, erp} entries")
		return nil
	}
	var out []EnumValue
	seen := map[string]bool{}
	for _, c := range n.Content {
		m := ps.mapping(c, field, "a value entry", keysValue...)
		canon, at, ok := ps.requiredStr(m, c, "canonical", field, "a value entry needs canonical", "the canonical value")
		if !ok {
			continue
		}
		if seen[canon] {
			ps.errf(at, field, "canonical value %q appears twice", canon)
			continue
		}
		seen[canon] = true
		ev := EnumValue{Canonical: canon}
		ps.valueLines[field+"\x00"+canon] = c.Line
		if kv, ok := m["webcrm"]; ok {
			ev.WebCRM, _ = ps.value(kv.val, field, "the webCRM value")
		}
		if kv, ok := m["erp"]; ok {
			ev.ERP, _ = ps.value(kv.val, field, "the ERP value")
		}
		ev.AlsoWebCRM = ps.valueList(m, "also-webcrm", field)
		ev.AlsoERP = ps.valueList(m, "also-erp", field)
		out = append(out, ev)
	}
	return out
}

func (ps *parser) valueList(m map[string]pair, key, field string) []any {
	kv, ok := m[key]
	if !ok {
		return nil
	}
	nodes := []*yaml.Node{kv.val}
	if kv.val.Kind == yaml.SequenceNode {
		nodes = kv.val.Content
	}
	var out []any
	for _, c := range nodes {
		if v, ok := ps.value(c, field, key); ok && v != nil {
			out = append(out, v)
		}
	}
	return out
}

// parseSide reads where a field lives on one side: a property name, or a mapping with
// property / lines / name-parts / derived and options.
func (ps *parser) parseSide(n *yaml.Node, f *Field, side domain.Side) SideSpec {
	var spec SideSpec
	if n.Kind == yaml.ScalarNode {
		if v, ok := ps.str(n, f.Name, side.Label()+" property"); ok && ps.checkProperty(n, f.Name, side, v) {
			spec.Property = v
		}
		return spec
	}
	m := ps.mapping(n, f.Name, string(side), keysSide...)
	forms := 0
	for _, k := range []string{"property", "lines", "name-parts", "derived"} {
		if _, ok := m[k]; ok {
			forms++
		}
	}
	if forms != 1 {
		ps.errf(n, f.Name, "%s needs exactly one of property, lines, name-parts, derived", side)
		return spec
	}
	if kv, ok := m["property"]; ok {
		if v, ok := ps.str(kv.val, f.Name, side.Label()+" property"); ok && ps.checkProperty(kv.val, f.Name, side, v) {
			spec.Property = v
		}
	}
	if kv, ok := m["lines"]; ok {
		vals, nodes := ps.strList(kv.val, f.Name, "a line property")
		if len(vals) < 2 {
			ps.errf(kv.val, f.Name, "lines needs at least two properties")
		}
		if f.Type != TypeString {
			ps.errf(kv.key, f.Name, "type mismatch: lines needs a text field, but the field is %s", f.Type)
		}
		for i, v := range vals {
			if ps.checkProperty(nodes[i], f.Name, side, v) {
				spec.Lines = append(spec.Lines, v)
				ps.checkKind(nodes[i], f.Name, side, v, TypeString)
			}
		}
	}
	if kv, ok := m["name-parts"]; ok {
		if f.Type != TypeString {
			ps.errf(kv.key, f.Name, "type mismatch: name-parts needs a text field, but the field is %s", f.Type)
		}
		nm := ps.mapping(kv.val, f.Name, "name-parts", keysName...)
		parts := &NameParts{}
		for _, k := range keysName {
			pkv, ok := nm[k]
			if !ok {
				continue
			}
			if v, ok := ps.str(pkv.val, f.Name, "a name property"); ok && ps.checkProperty(pkv.val, f.Name, side, v) {
				ps.checkKind(pkv.val, f.Name, side, v, TypeString)
				switch k {
				case "full":
					parts.Full = v
				case "first":
					parts.First = v
				case "last":
					parts.Last = v
				}
			}
		}
		if parts.First == "" || parts.Last == "" {
			ps.errf(kv.val, f.Name, "name-parts needs first and last (full is optional)")
		}
		spec.Name = parts
	}
	if kv, ok := m["derived"]; ok {
		if f.Type != TypeEnum {
			ps.errf(kv.key, f.Name, "type mismatch: derived needs an enum field, but the field is %s", f.Type)
		}
		spec.Derived = ps.parseRules(kv.val, f, side)
	}
	if kv, ok := m["empty"]; ok {
		if spec.Property == "" {
			ps.errf(kv.key, f.Name, "empty is only used with property")
		} else if v, ok := ps.value(kv.val, f.Name, "the empty value"); ok {
			spec.Empty = v
			ps.checkValueKind(kv.val, f.Name, side, spec.Property, v)
		}
	}
	if kv, ok := m["max-length"]; ok {
		switch {
		case f.Type != TypeString:
			ps.errf(kv.key, f.Name, "type mismatch: max-length needs a text field, but the field is %s", f.Type)
		case spec.Property == "":
			ps.errf(kv.key, f.Name, "max-length is only used with property")
		default:
			spec.MaxLength, _ = ps.intValue(kv.val, f.Name, "max-length")
		}
	}
	if kv, ok := m["immutable"]; ok {
		spec.Immutable, _ = ps.boolValue(kv.val, f.Name, "immutable")
	}
	return spec
}

func (ps *parser) parseRules(n *yaml.Node, f *Field, side domain.Side) []Rule {
	if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		ps.errf(n, f.Name, "derived must be a list of rules")
		return nil
	}
	var out []Rule
	for i, c := range n.Content {
		m := ps.mapping(c, f.Name, "a derived rule", keysRule...)
		var r Rule
		then, ok := m["then"]
		if !ok {
			ps.errf(c, f.Name, "a derived rule needs then: <canonical value>")
			continue
		}
		r.Then, _ = ps.str(then.val, f.Name, "then")
		if kv, ok := m["if"]; ok {
			if v, ok := ps.str(kv.val, f.Name, "if"); ok && ps.checkProperty(kv.val, f.Name, side, v) {
				r.Property = v
			}
			eq, hasEq := m["equals"]
			set, hasSet := m["is-set"]
			switch {
			case hasEq == hasSet:
				ps.errf(c, f.Name, "a rule with if needs exactly one of equals, is-set")
			case hasEq:
				r.Equals, _ = ps.value(eq.val, f.Name, "equals")
				if r.Property != "" {
					ps.checkValueKind(eq.val, f.Name, side, r.Property, r.Equals)
				}
			default:
				b, _ := ps.boolValue(set.val, f.Name, "is-set")
				r.IsSet = &b
			}
		} else {
			if _, ok := m["equals"]; ok {
				ps.errf(c, f.Name, "equals needs if: <property>")
			}
			if _, ok := m["is-set"]; ok {
				ps.errf(c, f.Name, "is-set needs if: <property>")
			}
			if i != len(n.Content)-1 {
				ps.errf(c, f.Name, "a rule without if always holds, so it must be the last")
			}
		}
		out = append(out, r)
	}
	return out
}

// checkKind reports a property whose kind cannot hold a field of type t.
func (ps *parser) checkKind(n *yaml.Node, field string, side domain.Side, prop string, t Type) {
	k := ps.kind(side, prop)
	if k == KindUnknown || typeFits(t, side, k) {
		return
	}
	what := string(t)
	if t == TypeID {
		what = "id (" + map[domain.Side]string{domain.WebCRM: "a whole number", domain.ERP: "text"}[side] + " on this side)"
	}
	ps.errf(n, field, "type mismatch: the field is %s, but %s property %q holds %s", what, side.Label(), prop, kindWords(k))
}

// checkField checks one field as a whole.
func (ps *parser) checkField(f *Field, m map[string]pair) {
	node := func(side domain.Side) *yaml.Node {
		if kv, ok := m[string(side)]; ok {
			return kv.val
		}
		return nil
	}
	for _, side := range []domain.Side{domain.WebCRM, domain.ERP} {
		spec := f.Side(side)
		if spec.Property != "" {
			ps.checkKind(node(side), f.Name, side, spec.Property, f.Type)
		}
		if side == domain.WebCRM && len(spec.Derived) == 0 && f.Direction.Writes(side) {
			for _, prop := range spec.Properties() {
				if ps.writeExcluded(prop) {
					ps.errf(node(side), f.Name, "webCRM property %q %s, so direction must be %s, not %s", prop, notWritten, WebCRMToERP, f.Direction)
				}
			}
		}
		if side == domain.ERP && spec.Property == "id" && f.Direction.Writes(side) {
			ps.errf(node(side), f.Name, "the ERP assigns a record's id and never takes one, so direction must be %s, not %s", ERPToWebCRM, f.Direction)
		}
		if len(spec.Derived) > 0 {
			if f.Direction.Writes(side) {
				ps.errf(node(side), f.Name, "the %s side is derived (read-only), so direction must be %s-to-%s, not %s", side.Label(), side, side.Other(), f.Direction)
			}
			for _, r := range spec.Derived {
				if r.Then != "" && !slices.ContainsFunc(f.Values, func(ev EnumValue) bool { return ev.Canonical == r.Then }) {
					ps.errf(node(side), f.Name, "derived value %q is not a canonical value in values", r.Then)
				}
			}
		}
		if f.Type == TypeEnum && len(spec.Derived) == 0 && spec.Property != "" {
			for _, ev := range f.Values {
				v := ev.WebCRM
				if side == domain.ERP {
					v = ev.ERP
				}
				if v == nil {
					ps.errf(node(side), f.Name, "value %q has no %s value", ev.Canonical, side)
					continue
				}
				at := &yaml.Node{Line: ps.valueLines[f.Name+"\x00"+ev.Canonical]}
				for _, x := range append([]any{v}, ev.alsoFor(side)...) {
					ps.checkValueKind(at, f.Name, side, spec.Property, x)
				}
			}
		}
	}
	if f.WebCRM.Immutable && f.ERP.Immutable {
		ps.errf(node(domain.ERP), f.Name, "a field cannot be immutable on both sides")
	}
	if len(f.WebCRM.Derived) > 0 && len(f.ERP.Derived) > 0 {
		ps.errf(node(domain.ERP), f.Name, "a field cannot be derived on both sides")
	}
}

func (ev EnumValue) alsoFor(side domain.Side) []any {
	if side == domain.WebCRM {
		return ev.AlsoWebCRM
	}
	return ev.AlsoERP
}

// checkFile checks what concerns the file as a whole.
func (ps *parser) checkFile(top map[string]pair) {
	p := ps.p
	fieldNode := func(f *Field) *yaml.Node { return &yaml.Node{Line: f.Line} }
	// Every property is written by one field at most; read-only (derived) sides may share.
	for _, side := range []domain.Side{domain.WebCRM, domain.ERP} {
		owner := map[string]string{}
		consts := p.ERPConstants
		if side == domain.WebCRM {
			consts = p.WebCRMConstants
		}
		for i := range p.Fields {
			f := &p.Fields[i]
			spec := f.Side(side)
			if len(spec.Derived) > 0 {
				continue
			}
			for _, prop := range spec.Properties() {
				if other, dup := owner[prop]; dup {
					ps.errf(fieldNode(f), f.Name, "%s property %q is already mapped by field %s", side.Label(), prop, other)
				}
				owner[prop] = f.Name
				if _, c := consts[prop]; c {
					ps.errf(fieldNode(f), f.Name, "%s property %q is also a constant", side.Label(), prop)
				}
				if side == domain.WebCRM && prop == p.CorrelationField {
					ps.errf(fieldNode(f), f.Name, "webCRM property %q is the correlation field; tandem writes its own token there", prop)
				}
			}
		}
	}
	ps.checkSyncTime(top)
	// Records created on a side must get every property it requires.
	for _, side := range []domain.Side{domain.WebCRM, domain.ERP} {
		if p.Creation == "" || !p.Creation.Allows(side) {
			continue
		}
		required, consts := p.ERPRequired, p.ERPConstants
		if side == domain.WebCRM {
			required, consts = p.WebCRMRequired, p.WebCRMConstants
		}
		for _, prop := range required {
			if _, ok := consts[prop]; ok {
				continue
			}
			var mapped *Field
			for i := range p.Fields {
				if slices.Contains(p.Fields[i].Side(side).Properties(), prop) {
					mapped = &p.Fields[i]
					break
				}
			}
			switch {
			case mapped == nil:
				ps.errf(&yaml.Node{Line: ps.lines[string(side)+":"+prop]}, string(side)+".required-on-create",
					"%s property %q is required to create %s records (create: %s), but no field or constant writes it", side.Label(), prop, side.Label(), p.Creation)
			case !mapped.canWrite(side, false):
				why := fmt.Sprintf("its direction %s never writes %s", mapped.Direction, side.Label())
				if len(mapped.Side(side).Derived) > 0 {
					why = "its " + side.Label() + " side is derived (read-only)"
				}
				ps.errf(fieldNode(mapped), mapped.Name, "direction contradicts the creation rule: %s property %q is required to create %s records (create: %s), but %s",
					side.Label(), prop, side.Label(), p.Creation, why)
			}
		}
	}
	// Records tandem creates in the ERP must belong to this pairing.
	if p.Creation != "" && p.Creation.Allows(domain.ERP) {
		for _, k := range sortedKeys(p.ERPFilter) {
			c, ok := p.ERPConstants[k]
			if s, isStr := c.(string); !ok || !isStr || !strings.EqualFold(s, p.ERPFilter[k]) {
				ps.errf(top["erp"].val, "erp.filter", "records created in the ERP would not match the filter %s: %s; add it to erp.constants", k, p.ERPFilter[k])
			}
		}
	}
	if p.Gate == GateWonOnly {
		f, ok := p.Field("status")
		if !ok || f.Type != TypeEnum || !slices.ContainsFunc(f.Values, func(ev EnumValue) bool { return ev.Canonical == "won" }) {
			ps.errf(top["gate"].val, "gate", "gate won-only needs an enum field named status with the canonical value won")
		}
		if p.Creation != "" && !p.Creation.Allows(domain.ERP) {
			ps.errf(top["gate"].val, "gate", "gate won-only limits creation in the ERP, but this pairing never creates there (create: %s)", p.Creation)
		}
	}
}

// checkSyncTime reads erp-sync-time: a webCRM property of the entity, of date-time kind,
// that no field maps and tandem may write.
func (ps *parser) checkSyncTime(top map[string]pair) {
	kv, ok := top["erp-sync-time"]
	if !ok {
		return
	}
	const key = "erp-sync-time"
	p := ps.p
	prop, ok := ps.str(kv.val, key, "the webCRM property of the sync time")
	if !ok || !ps.checkProperty(kv.val, key, domain.WebCRM, prop) {
		return
	}
	if k := ps.kind(domain.WebCRM, prop); k != KindUnknown && k != KindDateTime {
		ps.errf(kv.val, key, "type mismatch: webCRM property %q holds %s, but the sync time needs dates with time", prop, kindWords(k))
		return
	}
	for i := range p.Fields {
		spec := p.Fields[i].Side(domain.WebCRM)
		mapped := slices.Contains(spec.Properties(), prop)
		for _, r := range spec.Derived {
			mapped = mapped || r.Property == prop
		}
		if mapped {
			ps.errf(kv.val, key, "webCRM property %q is mapped by field %s; the sync time needs a property of its own", prop, p.Fields[i].Name)
			return
		}
	}
	switch _, c := p.WebCRMConstants[prop]; {
	case prop == p.CorrelationField:
		ps.errf(kv.val, key, "webCRM property %q is the correlation field; tandem writes its own token there", prop)
	case c:
		ps.errf(kv.val, key, "webCRM property %q is also a constant", prop)
	case ps.writeExcluded(prop):
		ps.errf(kv.val, key, "webCRM property %q %s, so it cannot hold the sync time", prop, notWritten)
	default:
		p.ERPSyncTime = prop
	}
}
