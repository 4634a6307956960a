package mappings

import (
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tandemsync/tandem/domain"
)

// MergeInput is what [Merge] compares.
type MergeInput struct {
	Base            Canonical // last synced snapshot; nil when the two records are first matched
	WebCRM, ERP     Canonical // current values (nil map for a side that has no record yet)
	WebCRMUpdatedAt time.Time
	ERPUpdatedAt    time.Time
	Pairing         *Pairing // field owners and directions
	// WebCRMStored and ERPStored hold, per side, values its server stored in place
	// of Base's when tandem wrote them (cut, reformatted; see StoredAs): a side
	// that still holds such a value holds Base, not an edit of it.
	WebCRMStored, ERPStored Canonical
}

// stored returns side s's stored-as values.
func (in MergeInput) stored(s domain.Side) Canonical {
	if s == domain.WebCRM {
		return in.WebCRMStored
	}
	return in.ERPStored
}

// MergeResult is what [Merge] decided.
type MergeResult struct {
	Merged    Canonical  // the agreed values; store it as the next Base
	ToWebCRM  []string   // canonical fields to write to webCRM (sorted); empty = no write
	ToERP     []string   // canonical fields to write to the ERP (sorted)
	Conflicts []Conflict // in field order
}

// Conflict records a field where one side's value lost.
type Conflict struct {
	Field      string
	WebCRM     any // the webCRM value before the merge
	ERP        any // the ERP value before the merge
	Winner     domain.Side
	Rule       string // see the Rule constants
	FirstMatch bool   // decided when the records were first matched (no Base)
}

// Conflict rules.
const (
	RuleOwnerWebCRM       = "owner:webcrm"            // changed on both sides; the field's owner webCRM won
	RuleOwnerERP          = "owner:erp"               // changed on both sides; the field's owner ERP won
	RuleNewest            = "newest"                  // changed on both sides; the later update won
	RuleNewestTie         = "newest-tie"              // changed on both sides at the same time; webCRM won
	RuleDirectionToERP    = "direction:webcrm-to-erp" // an ERP value of a webCRM-to-ERP field was overwritten
	RuleDirectionToWebCRM = "direction:erp-to-webcrm" // a webCRM value of an ERP-to-webCRM field was overwritten
	RuleImmutableWebCRM   = "immutable-in-webcrm"     // webCRM refuses to change the field; the ERP follows webCRM
	RuleImmutableERP      = "immutable-in-erp"        // the ERP refuses to change the field; webCRM follows the ERP
)

// Merge decides, field by field, the agreed values of a linked pair of records and what to
// write to each side. It is pure and deterministic.
//
// For a field that flows both ways:
//   - Linked (Base set): a field changed on one side since Base wins, a deliberate clear
//     included. Changed on both sides to different values, the field's owner decides; with
//     owner "newest" the later update time wins and a tie goes to webCRM. Every such case
//     is a Conflict.
//   - First match (Base nil): equal values stay; an empty value never overwrites a
//     non-empty one; two different values are decided by the owner, as a Conflict.
//
// For a one-way field, Merged holds the source side's value and the other side follows it:
// an edit there is overwritten back and recorded as a Conflict. An empty source never
// clears the other side, except when the source was cleared since Base.
//
// A side that refuses changes after create (an immutable field) is never written: the other
// side is brought back to its value, and the case is a Conflict with rule immutable-in-<side>.
//
// A nil side means there is no record there yet: the fields to write are those a create
// needs, and none when the pairing may not create on that side (creation rule and gate).
//
// Text cut to a side's maximum length counts as equal to the full text, so a value cut when
// it was written is not mistaken for an edit. Merging a result with itself writes nothing;
// swapping the sides (and mirroring owners and directions) mirrors the result, except that
// a tie in update times goes to webCRM either way.
func Merge(in MergeInput) MergeResult {
	res := MergeResult{Merged: Canonical{}}
	p := in.Pairing
	if p == nil {
		return res
	}
	if in.WebCRM == nil && in.ERP == nil {
		for i := range p.Fields {
			f := &p.Fields[i]
			if v := f.canonValue(in.Base[f.Name]); v != nil {
				res.Merged[f.Name] = v
			}
		}
		return res
	}
	for i := range p.Fields {
		f := &p.Fields[i]
		o := mergeField(f, in)
		if v := f.canonValue(o.merged); v != nil {
			res.Merged[f.Name] = v
		}
		if o.toWebCRM {
			res.ToWebCRM = append(res.ToWebCRM, f.Name)
		}
		if o.toERP {
			res.ToERP = append(res.ToERP, f.Name)
		}
		if o.conflict != nil {
			res.Conflicts = append(res.Conflicts, *o.conflict)
		}
	}
	if in.WebCRM == nil && !p.MayCreate(domain.WebCRM, res.Merged) {
		res.ToWebCRM = nil
	}
	if in.ERP == nil && !p.MayCreate(domain.ERP, res.Merged) {
		res.ToERP = nil
	}
	slices.Sort(res.ToWebCRM)
	slices.Sort(res.ToERP)
	return res
}

type outcome struct {
	merged          any
	toWebCRM, toERP bool
	conflict        *Conflict
}

func (o *outcome) setWrite(s domain.Side, v bool) {
	if s == domain.WebCRM {
		o.toWebCRM = v
	} else {
		o.toERP = v
	}
}

func (o *outcome) write(s domain.Side) bool {
	if s == domain.WebCRM {
		return o.toWebCRM
	}
	return o.toERP
}

func mergeField(f *Field, in MergeInput) outcome {
	val := func(c Canonical) any {
		if c == nil {
			return nil
		}
		return c[f.Name]
	}
	w, e, b := val(in.WebCRM), val(in.ERP), val(in.Base)
	hasBase := in.Base != nil
	// holds reports whether side s's value v says the same as ref: as agreeSide,
	// or, when ref is Base, v is what that side's server made of Base.
	holds := func(s domain.Side, v, ref any) bool {
		if f.agreeSide(s, v, ref) {
			return true
		}
		sv, ok := in.stored(s)[f.Name]
		return ok && hasBase && same(ref, b) && same(v, sv)
	}
	v := func(s domain.Side) any {
		if s == domain.WebCRM {
			return w
		}
		return e
	}
	var o outcome
	conflict := func(winner domain.Side, rule string) {
		o.conflict = &Conflict{Field: f.Name, WebCRM: w, ERP: e, Winner: winner, Rule: rule, FirstMatch: !hasBase}
	}

	// Only one record exists: it is the source of everything it may send.
	if in.WebCRM == nil || in.ERP == nil {
		have := domain.WebCRM
		if in.WebCRM == nil {
			have = domain.ERP
		}
		missing := have.Other()
		if f.Direction.Writes(missing) {
			o.merged = v(have)
			o.setWrite(missing, !isEmpty(o.merged) && f.canWrite(missing, false))
		}
		return o
	}

	// A one-way field: the destination follows the source.
	if f.Direction != Both {
		src := domain.WebCRM
		if f.Direction == ERPToWebCRM {
			src = domain.ERP
		}
		dst := src.Other()
		a, d := v(src), v(dst)
		o.merged = a
		if holds(dst, d, a) {
			return o
		}
		if isEmpty(a) && (!hasBase || isEmpty(b)) {
			return o // an empty source never clears the destination, except a deliberate clear
		}
		dstChanged := hasBase && !holds(dst, d, b)
		if !f.canWrite(dst, true) {
			conflict(dst, immutableRule(dst))
			return o
		}
		o.setWrite(dst, true)
		if dstChanged || (!hasBase && !isEmpty(d)) {
			rule := RuleDirectionToERP
			if f.Direction == ERPToWebCRM {
				rule = RuleDirectionToWebCRM
			}
			conflict(src, rule)
		}
		return o
	}

	// A field that flows both ways.
	decide := func() {
		winner, rule := f.owner(in)
		o.merged = v(winner)
		conflict(winner, rule)
	}
	if !hasBase {
		switch {
		case f.agree(w, e):
			o.merged = f.rep(w, e)
		case spaced(w, e) != nil:
			o.merged = spaced(w, e) // see below
		case isEmpty(w):
			o.merged = e
		case isEmpty(e):
			o.merged = w
		default:
			decide()
		}
	} else {
		cW, cE := !holds(domain.WebCRM, w, b), !holds(domain.ERP, e, b)
		switch {
		case !cW && !cE:
			o.merged = b
		case cW && !cE:
			o.merged = w
		case !cW && cE:
			o.merged = e
		case f.agree(w, e):
			o.merged = f.rep(w, e)
		case spaced(w, e) != nil:
			// Both changed, to one text but for white space: one side holds
			// what its server made of the other's value when tandem wrote
			// it (a server that drops spaces; an attempt whose answer was
			// lost), not an edit of its own. The spaced form stands; the
			// other side is written again, and what its server stores then
			// is remembered as its form of that value.
			o.merged = spaced(w, e)
		default:
			decide()
		}
	}
	o.toWebCRM = !holds(domain.WebCRM, w, o.merged)
	o.toERP = !holds(domain.ERP, e, o.merged)

	// A side that refuses changes keeps its value; the other side follows it.
	for _, s := range []domain.Side{domain.WebCRM, domain.ERP} {
		if !o.write(s) || f.canWrite(s, true) {
			continue
		}
		o.merged = v(s)
		o.setWrite(s, false)
		other := s.Other()
		o.setWrite(other, !isEmpty(o.merged) && !holds(other, v(other), o.merged))
		conflict(s, immutableRule(s))
	}
	return o
}

func immutableRule(s domain.Side) string {
	if s == domain.WebCRM {
		return RuleImmutableWebCRM
	}
	return RuleImmutableERP
}

// owner decides a field changed on both sides.
func (f *Field) owner(in MergeInput) (domain.Side, string) {
	switch f.Owner {
	case OwnerWebCRM:
		return domain.WebCRM, RuleOwnerWebCRM
	case OwnerERP:
		return domain.ERP, RuleOwnerERP
	}
	switch {
	case in.ERPUpdatedAt.After(in.WebCRMUpdatedAt):
		return domain.ERP, RuleNewest
	case in.WebCRMUpdatedAt.After(in.ERPUpdatedAt):
		return domain.WebCRM, RuleNewest
	}
	return domain.WebCRM, RuleNewestTie
}

// agreeSide reports whether side s's value v says the same as ref: equal, or ref cut to the
// side's maximum length.
func (f *Field) agreeSide(s domain.Side, v, ref any) bool {
	if same(v, ref) {
		return true
	}
	max := f.Side(s).MaxLength
	if max <= 0 {
		return false
	}
	rs, ok := ref.(string)
	if !ok || utf8.RuneCountInString(rs) <= max {
		return false
	}
	return same(v, f.transform(truncate(rs, max)))
}

// agree reports whether the two sides' values say the same.
func (f *Field) agree(w, e any) bool {
	return f.agreeSide(domain.WebCRM, w, e) || f.agreeSide(domain.ERP, e, w)
}

// rep returns the fuller of two agreeing values.
func (f *Field) rep(w, e any) any {
	if !same(w, e) && f.agreeSide(domain.WebCRM, w, e) {
		return e
	}
	return w
}

// canonValue brings a value (possibly decoded from JSON, where int64 became float64) back
// to the field type's canonical Go form. Empty values become nil.
func (f *Field) canonValue(v any) any {
	if isEmpty(v) {
		return nil
	}
	var t Type
	switch f.Type {
	case TypeInt, TypeBool, TypeDecimal:
		t = f.Type
	default:
		if _, ok := v.(string); ok {
			return v
		}
		t = f.Type
		if t == TypeEnum {
			t = TypeString
		}
	}
	n, err := normalise(t, v)
	if err != nil {
		return v
	}
	return n
}

// StoredAs compares what a server stored (stored, mapped back to canonical form) with
// what tandem wrote to it (sent) for fields, and returns the values the server changed
// on its own: text cut short or reformatted (spacing and case), which StoredAs takes
// for the server's doing. A write of a whole record carries the fields tandem did not
// change too, which a server may reformat just as well: pass them, with the value the
// record is synced at. edited lists fields whose stored value is something else, which
// only a person editing the record in between can explain. Fields the side holds as
// sent are absent from both.
func (p *Pairing) StoredAs(s domain.Side, sent, stored Canonical, fields []string) (rewritten Canonical, edited []string) {
	for _, name := range fields {
		f, ok := p.Field(name)
		if !ok {
			continue
		}
		sv, gv := sent[name], stored[name]
		if f.agreeSide(s, gv, sv) {
			continue
		}
		if serverRewrite(sv, gv) {
			if rewritten == nil {
				rewritten = Canonical{}
			}
			rewritten[name] = gv
			continue
		}
		edited = append(edited, name)
	}
	return rewritten, edited
}

// spaced returns, of two texts that are one text but for white space, the one
// with more of it; nil for any other two values (equal ones included).
func spaced(a, b any) any {
	x, ok1 := a.(string)
	y, ok2 := b.(string)
	if !ok1 || !ok2 || len(x) == len(y) {
		return nil
	}
	if strings.Join(strings.Fields(x), "") != strings.Join(strings.Fields(y), "") {
		return nil
	}
	if len(x) > len(y) {
		return x
	}
	return y
}

// squash removes a text's white space and lower-cases it.
func squash(s string) string { return strings.ToLower(strings.Join(strings.Fields(s), "")) }

// serverRewrite reports whether stored is what a server may make of sent by itself:
// the same text but for spacing and case, or sent cut short.
func serverRewrite(sent, stored any) bool {
	a, ok1 := sent.(string)
	b, ok2 := stored.(string)
	if !ok1 || !ok2 || b == "" {
		return false
	}
	sa, sb := squash(a), squash(b)
	return sa == sb || (len(sb) < len(sa) && strings.HasPrefix(sa, sb))
}

// ChangedFields lists, in the pairing's field order, the fields whose values differ
// between a and b, leaving out those named in skip.
func (p *Pairing) ChangedFields(a, b Canonical, skip []string) []string {
	var out []string
	for i := range p.Fields {
		f := &p.Fields[i]
		if slices.Contains(skip, f.Name) || same(f.canonValue(a[f.Name]), f.canonValue(b[f.Name])) {
			continue
		}
		out = append(out, f.Name)
	}
	return out
}

// SameValue reports whether a and b are the same value of the named field.
func (p *Pairing) SameValue(field string, a, b any) bool {
	f, ok := p.Field(field)
	if !ok {
		return same(a, b)
	}
	return same(f.canonValue(a), f.canonValue(b))
}
