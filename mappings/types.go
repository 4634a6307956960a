package mappings

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/tandemsync/tandem/domain"
)

// Direction says which way a field's edits flow.
type Direction string

// Field directions.
const (
	Both        Direction = "both"          // edits on either side reach the other
	WebCRMToERP Direction = "webcrm-to-erp" // webCRM is the source; ERP edits are overwritten back
	ERPToWebCRM Direction = "erp-to-webcrm" // the ERP is the source; webCRM edits are overwritten back
)

// Writes reports whether values of a field with this direction are ever written to side s.
func (d Direction) Writes(s domain.Side) bool {
	switch d {
	case Both:
		return true
	case WebCRMToERP:
		return s == domain.ERP
	case ERPToWebCRM:
		return s == domain.WebCRM
	}
	return false
}

// Creation says on which side tandem may create a counterpart for a record it has not seen
// linked yet. The words are those of [Direction]: "both" creates on either side,
// "webcrm-to-erp" creates only ERP records (from webCRM records), "erp-to-webcrm" only webCRM
// records.
type Creation string

// Creation rules.
const (
	CreateBoth        Creation = "both"
	CreateWebCRMToERP Creation = "webcrm-to-erp"
	CreateERPToWebCRM Creation = "erp-to-webcrm"
)

// Allows reports whether records may be created on side s.
func (c Creation) Allows(s domain.Side) bool { return Direction(c).Writes(s) }

// Owner decides a field that was changed on both sides to different values.
type Owner string

// Field owners.
const (
	OwnerWebCRM Owner = "webcrm" // webCRM's value wins
	OwnerERP    Owner = "erp"    // the ERP's value wins
	OwnerNewest Owner = "newest" // the side with the later update time wins; a tie goes to webCRM
)

// Type is the kind of value a field holds in canonical form.
type Type string

// Field types and the Go value each has in a [Canonical].
const (
	TypeString   Type = "string"   // string
	TypeInt      Type = "int"      // int64
	TypeDecimal  Type = "decimal"  // string: exact decimal, no exponent, no trailing zeros ("1.5", "0.3", "100")
	TypeBool     Type = "bool"     // bool
	TypeDate     Type = "date"     // string "2006-01-02"
	TypeDateTime Type = "datetime" // string, RFC 3339 in UTC
	TypeEnum     Type = "enum"     // string: one of the field's canonical values
	TypeID       Type = "id"       // string: the referenced record's webCRM id in decimal ("123")
)

// Kind is the JSON kind of a property as a schema declares it. Schemas may report kinds so
// that load-time checks can catch, say, a decimal field mapped to a boolean property.
type Kind string

// Property kinds (JSON Schema / OpenAPI words; KindDate and KindDateTime are strings with
// format date / date-time).
const (
	KindUnknown  Kind = ""
	KindString   Kind = "string"
	KindInteger  Kind = "integer"
	KindNumber   Kind = "number"
	KindBoolean  Kind = "boolean"
	KindDate     Kind = "date"
	KindDateTime Kind = "date-time"
)

// Schemas tells the loader which properties exist on each side. A nil function skips that
// check (as [Default] does).
type Schemas struct {
	WebCRM func(entity, property string) bool // wired to webcrm.Properties
	ERP    func(resource, path string) bool   // wired to customerp.Properties
	// WebCRMKind and ERPKind optionally report a property's kind; KindUnknown skips the
	// type check for that property.
	WebCRMKind func(entity, property string) Kind
	ERPKind    func(resource, path string) Kind
	// WebCRMWriteExcluded optionally reports a webCRM property tandem must never write: a
	// credential or a field webCRM maintains (wired to webcrm.Entity.WriteExcluded). A
	// field whose direction writes webCRM, a webCRM constant or a webCRM deactivation on
	// such a property is refused.
	WebCRMWriteExcluded func(entity, property string) bool
}

// Canonical is one record in a pairing's canonical form: canonical field name to normalised
// value. A missing key and a nil value both mean "no value"; the functions of this package
// never put nil in a Canonical they return.
type Canonical map[string]any

// Resolver translates ids of records of other pairings.
type Resolver interface {
	// Resolve translates an id of `pairing`'s record on side `from` into the id on the other
	// side. ok=false means not linked yet (the caller blocks or syncs the dependency first).
	Resolve(ctx context.Context, pairing string, from domain.Side, id string) (otherID string, ok bool, err error)
}

// UnresolvedReference is returned (possibly joined with others; see [Unresolved]) when a
// referenced record has no link yet.
type UnresolvedReference struct {
	Pairing string      // the referenced pairing, e.g. "organisations"
	Side    domain.Side // the side the id belongs to
	ID      string      // the id that could not be translated
}

// Error names the pairing, side and id that has no link yet.
func (e *UnresolvedReference) Error() string {
	return fmt.Sprintf("no %s link yet for %s record %q", e.Pairing, e.Side.Label(), e.ID)
}

// Warning is something a mapping did that a person may want to know about, such as a value
// cut to webCRM's maximum length. Warnings never stop a sync.
type Warning struct {
	Pairing string
	Field   string
	Side    domain.Side
	Message string
}

// String formats the warning as "pairing.field (side): message".
func (w Warning) String() string {
	return fmt.Sprintf("%s.%s (%s): %s", w.Pairing, w.Field, w.Side.Label(), w.Message)
}

// Pairing is one loaded and validated mapping file.
type Pairing struct {
	Name         string
	File         string // the file it was loaded from, for messages
	WebCRMEntity string // e.g. "Organisations"
	ERPResource  string // e.g. "customers"
	// ERPFilter selects this pairing's ERP records among the resource's records, e.g.
	// {"contactType": "person"}; ERP records of other kinds belong to another pairing.
	ERPFilter map[string]string
	// WebCRMConstants and ERPConstants are properties written with fixed values whenever
	// tandem writes a record on that side (e.g. contactType: person).
	WebCRMConstants map[string]any
	ERPConstants    map[string]any
	// WebCRMRequired and ERPRequired list properties a record needs when it is created on
	// that side; the loader checks that the fields or constants provide them.
	WebCRMRequired []string
	ERPRequired    []string
	MergeCriteria  []MergeKey
	Creation       Creation
	DeletePolicy   DeletePolicy
	// Gate limits which records are created in the ERP: "all" (or empty) or "won-only"
	// (only records whose canonical "status" is "won").
	Gate string
	// Review holds first contacts for an operator: a record that would get a
	// counterpart created, or whose merge key several records share, waits in
	// a link in state pending, writing nothing, until it is approved or
	// rejected (`starter approve`, `starter reject`).
	Review bool
	// CorrelationField is the webCRM custom field that carries tandem's correlation token;
	// empty when the entity has none.
	CorrelationField string
	// ERPSyncTime is the webCRM property (of date-time kind, mapped by no field) that
	// every write to a webCRM record of this pairing sets to the time of the write, as
	// webCRM's ERP integrations do; empty when none. It is no canonical field: never
	// compared, never sent to the ERP.
	ERPSyncTime string
	Fields      []Field
	References  []Reference // one per id field, naming the referenced pairing
	// DependsOn lists the pairings whose records must be synced first: every referenced
	// pairing plus those named by depends-on in the file. Sorted.
	DependsOn []string

	byName map[string]int
}

// MergeKey is one merge criterion: a canonical field and how to normalise it for matching.
type MergeKey struct {
	Field     string
	Normalise string // "exact" (trimmed), "lower" (trimmed, lower-case), "identifier" (upper-case; spaces, dashes and dots removed)
}

// Normalisers for merge criteria.
const (
	NormaliseExact      = "exact"
	NormaliseLower      = "lower"
	NormaliseIdentifier = "identifier"
)

// Apply returns the value normalised for matching ("" when empty).
func (k MergeKey) Apply(v any) string {
	s, ok := v.(string)
	if !ok {
		if v == nil {
			return ""
		}
		s = fmt.Sprint(v)
	}
	s = strings.TrimSpace(s)
	switch k.Normalise {
	case NormaliseLower:
		return strings.ToLower(s)
	case NormaliseIdentifier:
		return strings.Map(func(r rune) rune {
			switch r {
			case ' ', '-', '.', '\t', '\u00a0':
				return -1
			}
			return r
		}, strings.ToUpper(s))
	}
	return s
}

// Reference says that a field holds the id of another pairing's record.
type Reference struct {
	Field   string // canonical field name
	Pairing string // the referenced pairing
}

// DeleteAction is what happens to a counterpart when a record disappears.
type DeleteAction string

// Delete actions.
const (
	Propagate  DeleteAction = "propagate"  // delete the counterpart too
	Deactivate DeleteAction = "deactivate" // write the counterpart side's deactivation value
	Ignore     DeleteAction = "ignore"     // leave the counterpart; the link is marked deleted
)

// Deactivation is the property and value that mark a record inactive on one side.
type Deactivation struct {
	Property string
	Value    any
}

// DeletePolicy is a pairing's rule for deletes.
type DeletePolicy struct {
	Policy DeleteAction
	// DeactivateWebCRM is written to the webCRM counterpart of a deleted ERP record, and
	// DeactivateERP to the ERP counterpart of a deleted webCRM record, when Policy is
	// Deactivate. A side without one has no way to mark a record inactive: deletes coming
	// from the other side are then ignored.
	DeactivateWebCRM *Deactivation
	DeactivateERP    *Deactivation
}

// OnDelete says what to do with the counterpart when the record on side deletedOn is gone.
// The returned Deactivation is non-nil only with Deactivate.
func (d DeletePolicy) OnDelete(deletedOn domain.Side) (DeleteAction, *Deactivation) {
	switch d.Policy {
	case Propagate:
		return Propagate, nil
	case Deactivate:
		target := d.DeactivateERP
		if deletedOn == domain.ERP {
			target = d.DeactivateWebCRM
		}
		if target == nil {
			return Ignore, nil
		}
		return Deactivate, target
	}
	return Ignore, nil
}

// Field is one mapped field of a pairing.
type Field struct {
	Name       string // canonical name
	Type       Type
	WebCRM     SideSpec
	ERP        SideSpec
	Direction  Direction
	Owner      Owner
	Transforms []string // applied in order to values read from either side: "trim", "lower", "upper"
	References string   // for TypeID: the referenced pairing
	Values     []EnumValue
	// Unmapped says what happens to an enum value that is not in Values: "fail" (the
	// record cannot be mapped) or "warn" (treated as no value, with a warning).
	Unmapped string
	Line     int // line of the field in its file

	enumIndex map[domain.Side]map[string]string // enum key of a side value → canonical value
}

// indexValues builds the enum lookup tables (called once the field is complete).
func (f *Field) indexValues() {
	if len(f.Values) == 0 {
		return
	}
	f.enumIndex = map[domain.Side]map[string]string{domain.WebCRM: {}, domain.ERP: {}}
	for _, ev := range f.Values {
		for _, side := range []domain.Side{domain.WebCRM, domain.ERP} {
			main, also := ev.WebCRM, ev.AlsoWebCRM
			if side == domain.ERP {
				main, also = ev.ERP, ev.AlsoERP
			}
			for _, v := range append([]any{main}, also...) {
				if v == nil {
					continue
				}
				if _, dup := f.enumIndex[side][enumKey(v)]; !dup { // the first line wins, as when reading the table top down
					f.enumIndex[side][enumKey(v)] = ev.Canonical
				}
			}
		}
	}
}

// Side returns the field's description of side s.
func (f *Field) Side(s domain.Side) *SideSpec {
	if s == domain.WebCRM {
		return &f.WebCRM
	}
	return &f.ERP
}

// SideSpec says where a field lives on one side. Exactly one of Property, Lines, Name and
// Derived is set.
type SideSpec struct {
	Property string     // one property; dotted for nested objects ("postalAddress.city")
	Lines    []string   // multi-line text spread over these properties, one line each; the last takes the rest
	Name     *NameParts // a person's name kept as full name and/or first and last name
	Derived  []Rule     // read-only: the canonical value is computed from other properties
	// Empty is the value that stands for "no value" on this side (e.g. "-" for a webCRM
	// person's mandatory last name): it reads as empty, and empty is written as it.
	Empty any
	// MaxLength cuts longer text when writing to this side (in characters), with a warning.
	MaxLength int
	// Immutable means the side refuses changes after the record is created: a change from
	// the other side is recorded as a conflict and not written.
	Immutable bool
}

// NameParts maps a full name to properties holding the whole name and/or its parts.
type NameParts struct {
	Full  string // optional: the whole name
	First string // everything before the last word
	Last  string // the last word
}

// Rule is one rule of a derived value: when Property equals Equals (or, with IsSet, has any
// value / has none), the canonical value is Then. A rule without Property always holds.
// Rules are tried in order; the first that holds wins.
type Rule struct {
	Property string
	Equals   any
	IsSet    *bool
	Then     string
}

// EnumValue is one line of an enum field's value table.
type EnumValue struct {
	Canonical  string
	WebCRM     any   // written to webCRM for this value (and read back as it)
	ERP        any   // written to the ERP
	AlsoWebCRM []any // further webCRM values that read as this value
	AlsoERP    []any // further ERP values that read as this value
}

// Properties lists every property this side reads or writes.
func (s *SideSpec) Properties() []string {
	switch {
	case s.Property != "":
		return []string{s.Property}
	case len(s.Lines) > 0:
		return slices.Clone(s.Lines)
	case s.Name != nil:
		var out []string
		for _, p := range []string{s.Name.Full, s.Name.First, s.Name.Last} {
			if p != "" {
				out = append(out, p)
			}
		}
		return out
	case len(s.Derived) > 0:
		var out []string
		for _, r := range s.Derived {
			if r.Property != "" && !slices.Contains(out, r.Property) {
				out = append(out, r.Property)
			}
		}
		return out
	}
	return nil
}

// Field returns the named field.
func (p *Pairing) Field(name string) (*Field, bool) {
	if p.byName == nil { // a Pairing built or decoded outside the loader
		for i := range p.Fields {
			if p.Fields[i].Name == name {
				return &p.Fields[i], true
			}
		}
		return nil, false
	}
	i, ok := p.byName[name]
	if !ok {
		return nil, false
	}
	return &p.Fields[i], true
}

// FieldNames returns the canonical field names in file order.
func (p *Pairing) FieldNames() []string {
	out := make([]string, len(p.Fields))
	for i := range p.Fields {
		out[i] = p.Fields[i].Name
	}
	return out
}

// WritableFields returns, sorted, the fields whose values may be written to side s when
// the record there is being created (existing=false) or updated (existing=true).
func (p *Pairing) WritableFields(s domain.Side, existing bool) []string {
	var out []string
	for i := range p.Fields {
		if p.Fields[i].canWrite(s, existing) {
			out = append(out, p.Fields[i].Name)
		}
	}
	slices.Sort(out)
	return out
}

// StoredFields names the fields kept in a property (or properties) of side s, whose
// value a write to s may carry: every field but those derived from other properties
// there, in the pairing's field order.
func (p *Pairing) StoredFields(s domain.Side) []string {
	var out []string
	for i := range p.Fields {
		if spec := p.Fields[i].Side(s); len(spec.Derived) == 0 && (spec.Property != "" || len(spec.Lines) > 0 || spec.Name != nil) {
			out = append(out, p.Fields[i].Name)
		}
	}
	return out
}

// canWrite reports whether the field may be written to side s.
func (f *Field) canWrite(s domain.Side, existing bool) bool {
	spec := f.Side(s)
	if !f.Direction.Writes(s) || len(spec.Derived) > 0 {
		return false
	}
	return !(existing && spec.Immutable)
}

// Accepts reports whether an ERP record belongs to this pairing (matches its ERP filter).
func (p *Pairing) Accepts(erpRecord map[string]any) bool {
	for k, want := range p.ERPFilter {
		got, _ := getPath(erpRecord, k)
		s, ok := got.(string)
		if !ok || !strings.EqualFold(strings.TrimSpace(s), want) {
			return false
		}
	}
	return true
}

// MayCreate reports whether a counterpart may be created on side s for a record whose
// canonical values are c: the creation rule must allow s, and for the ERP the gate must pass.
func (p *Pairing) MayCreate(s domain.Side, c Canonical) bool {
	if !p.Creation.Allows(s) {
		return false
	}
	if s == domain.ERP && p.Gate == GateWonOnly {
		v, _ := c["status"].(string)
		return v == "won"
	}
	return true
}

// What happens to an enum value that is not in the field's value table.
const (
	UnmappedFail = "fail" // the record cannot be mapped (the default)
	UnmappedWarn = "warn" // the value counts as no value, and a warning says so
)

// Gates.
const (
	GateAll     = "all"
	GateWonOnly = "won-only"
)

// MatchKey returns the record's merge key: the normalised merge criteria joined by a
// unit separator. ok is false when the pairing has no criteria or any criterion is empty
// (such a record is never matched, only created or linked).
func (p *Pairing) MatchKey(c Canonical) (key string, ok bool) {
	if len(p.MergeCriteria) == 0 {
		return "", false
	}
	parts := make([]string, 0, len(p.MergeCriteria))
	for _, k := range p.MergeCriteria {
		v := k.Apply(c[k.Field])
		if v == "" {
			return "", false
		}
		parts = append(parts, v)
	}
	return strings.Join(parts, "\x1f"), true
}
