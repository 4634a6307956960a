package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"github.com/tandemsync/tandem/domain"
	"github.com/tandemsync/tandem/mappings"
)

// merge does the three-way merge of a linked pair and writes what changed.
func (r *run) merge(ctx context.Context) (domain.ApplyResult, error) {
	current := map[domain.Side]mappings.Canonical{}
	for _, side := range domain.Sides() {
		c, err := r.canonical(ctx, side, r.recs[side])
		if r.blocked(err) {
			return r.res, nil
		}
		if err != nil {
			return r.res, mappingError(fmt.Errorf("map %s record %s: %w", side, r.st.ID(side), err))
		}
		current[side] = c
	}
	base, err := decodeCanonical(r.st.Snapshot)
	if err != nil {
		return r.res, permanentf("decode snapshot: %w", err)
	}
	stored := map[domain.Side]mappings.Canonical{}
	for _, side := range domain.Sides() {
		if stored[side], err = decodeCanonical(r.st.Stored(side)); err != nil {
			return r.res, permanentf("decode %s stored values: %w", side, err)
		}
	}
	if side := r.st.Unread; side.Valid() {
		// tandem's last write to side was not read back: a value there in
		// its server's form of the synced one (spaces taken out, cut short)
		// is that write as stored, not an edit.
		rewritten, _ := r.p.StoredAs(side, base, current[side], r.p.StoredFields(side))
		if len(rewritten) > 0 {
			if stored[side] == nil {
				stored[side] = mappings.Canonical{}
			}
			maps.Copy(stored[side], rewritten)
		}
	}
	r.st.Unread = ""
	m := mappings.Merge(mappings.MergeInput{
		Base: base, WebCRM: current[domain.WebCRM], ERP: current[domain.ERP], Pairing: r.p,
		WebCRMUpdatedAt: r.recs[domain.WebCRM].UpdatedAt,
		ERPUpdatedAt:    r.recs[domain.ERP].UpdatedAt,
		WebCRMStored:    stored[domain.WebCRM], ERPStored: stored[domain.ERP],
	})
	for _, c := range m.Conflicts {
		r.res.Conflicts = append(r.res.Conflicts, domain.ConflictNote{Field: c.Field, Winner: c.Winner, Rule: c.Rule})
	}
	r.st.Conflicts += len(m.Conflicts)
	moved := r.p.ChangedFields(base, m.Merged, nil)
	writes := 0
	for _, side := range domain.Sides() {
		fields := m.ToWebCRM
		if side == domain.ERP {
			fields = m.ToERP
		}
		rec := r.recs[side]
		// A stored-as value stands for the snapshot's value only while that
		// value is the synced one.
		kept := mappings.Canonical{}
		for f, v := range stored[side] {
			if !slices.Contains(moved, f) {
				kept[f] = v
			}
		}
		r.setStored(side, kept)
		if len(fields) > 0 {
			if err := r.ensureLookups(ctx, side, m.Merged, fields); err != nil {
				if r.blocked(err) {
					return r.res, nil
				}
				return r.res, err
			}
			body, err := r.render(ctx, side, m.Merged, fields)
			if r.blocked(err) {
				return r.res, nil
			}
			if err != nil {
				return r.res, mappingError(fmt.Errorf("map changes for %s: %w", r.store(side).Label(), err))
			}
			written, err := r.store(side).Update(ctx, r.st.ID(side), rec, body)
			if err != nil {
				return r.res, fmt.Errorf("update %s %s: %w", r.store(side).Label(), r.st.ID(side), err)
			}
			sent := r.sentWith(side, m.Merged, current[side], stored[side], fields)
			rec = r.storedAs(ctx, side, sent, current[side], written, slices.Sorted(maps.Keys(sent)))
			writes++
		}
		r.remember(m.Merged, side, rec)
	}
	r.st.Writes += writes
	action := r.res.Outcome.Action
	if action == "" {
		action = domain.ActionNoop
		if writes > 0 {
			action = domain.ActionUpdated
		}
	}
	r.res.Outcome.Conflicts = len(m.Conflicts)
	return r.settle(action, "")
}

// remember stores the synced snapshot and the version of a side's record.
func (r *run) remember(c mappings.Canonical, side domain.Side, rec Record) {
	if snap, err := json.Marshal(c); err == nil {
		r.st.Snapshot = snap
	}
	r.st.Hash = mappings.Hash(c)
	r.st.SetVersion(side, rec.Version)
}

// storedAs returns the record to remember for side after tandem wrote a record
// synced at sent (canonical) to it, written being what the write returned;
// fields are those the write carried. A record read back after the write
// (ReadBack) says what the server stored: values it cut or reformatted are kept
// as that side's stored-as values, and its version is the write's, so the poll
// that delivers it skips it as seen. When the read back shows a change tandem
// did not write (a person edited the record in the moment between), or there
// is no read back, the version stays the one the write was based on (before,
// the record as read; nil on create): the poll that delivers the newer version
// then merges it as the edit it may be.
func (r *run) storedAs(ctx context.Context, side domain.Side, sent, before mappings.Canonical, written Record, fields []string) Record {
	keep := r.recs[side]
	if before == nil {
		keep = Record{Fields: written.Fields}
	}
	if !written.ReadBack {
		r.st.Unread = side
		if written.Version != "" {
			keep.Version = written.Version // the ERP answers its new version
		}
		return keep
	}
	got, err := r.canonical(ctx, side, written)
	if err != nil {
		return keep
	}
	rewritten, edited := r.p.StoredAs(side, sent, got, fields)
	if before != nil {
		// A field tandem does not write to this side (one flowing from it
		// only) is not in what was sent, but a person may have changed it
		// in the moment between too: a write-back that follows a create
		// reads the record long after the first contact did.
		for _, f := range r.p.FieldNames() {
			if _, ok := sent[f]; !ok && !r.p.SameValue(f, before[f], got[f]) {
				edited = append(edited, f)
			}
		}
	}
	if len(edited) > 0 {
		r.e.log.InfoContext(ctx, "record changed while tandem wrote it; its next change is merged as an edit",
			"pairing", r.p.Name, "link", r.in.LinkID, "side", string(side), "fields", edited)
		return keep
	}
	if len(rewritten) > 0 {
		cur, _ := decodeCanonical(r.st.Stored(side))
		if cur == nil {
			cur = mappings.Canonical{}
		}
		maps.Copy(cur, rewritten)
		r.setStored(side, cur)
	}
	return written
}

// sentWith returns what a write of fields (canonical) to side carried: the
// merged values of the fields written, and the record's own values, read
// before, of the others, which a write of a whole record sends back as they
// were. A field the side holds at a value other than the synced one (and not
// as the server's stored form of it, which storedBefore holds) is left out: a
// form the server gives it does not stand for the synced value.
func (r *run) sentWith(side domain.Side, merged, before, storedBefore mappings.Canonical, fields []string) mappings.Canonical {
	out := mappings.Canonical{}
	for _, f := range r.p.StoredFields(side) {
		switch {
		case slices.Contains(fields, f):
			out[f] = merged[f]
		case r.p.SameValue(f, before[f], merged[f]):
			out[f] = before[f]
		case storedBefore != nil && r.p.SameValue(f, before[f], storedBefore[f]):
			out[f] = before[f]
		}
	}
	return out
}

// setStored records side's stored-as values (none for an empty c).
func (r *run) setStored(side domain.Side, c mappings.Canonical) {
	var raw json.RawMessage
	if len(c) > 0 {
		raw, _ = json.Marshal(c)
	}
	r.st.SetStored(side, raw)
}

// decodeCanonical reads a snapshot back into canonical form: whole numbers come
// back as int64, as the mappings produce them; decimals are strings.
func decodeCanonical(raw json.RawMessage) (mappings.Canonical, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var c mappings.Canonical
	if err := dec.Decode(&c); err != nil {
		return nil, err
	}
	for k, v := range c {
		if n, ok := v.(json.Number); ok {
			i, err := n.Int64()
			if err != nil {
				return nil, fmt.Errorf("snapshot field %s: %q is not a whole number", k, n)
			}
			c[k] = i
		}
	}
	return c, nil
}

// applyDelete applies the pairing's delete policy to a record that is gone on
// side gone.
func (r *run) applyDelete(ctx context.Context, gone domain.Side) (domain.ApplyResult, error) {
	other := gone.Other()
	otherID := r.st.ID(other)
	if r.st.State == domain.StateDeleted {
		r.res.Outcome.Action = domain.ActionSeen
		r.res.State = r.st
		return r.res, nil
	}
	reason := fmt.Sprintf("deleted in %s", gone)
	if otherRec, ok := r.recs[other]; otherID != "" && ok && !otherRec.Gone {
		switch action, deact := r.p.DeletePolicy.OnDelete(gone); action {
		case mappings.Propagate:
			if err := r.store(other).Remove(ctx, otherID); err != nil {
				return r.res, fmt.Errorf("delete %s %s: %w", r.store(other).Label(), otherID, err)
			}
			r.st.Writes++
			reason += fmt.Sprintf("; deleted in %s too", other)
		case mappings.Deactivate:
			changes := map[string]any{}
			setPath(changes, deact.Property, deact.Value)
			if _, err := r.store(other).Update(ctx, otherID, otherRec, changes); err != nil {
				return r.res, fmt.Errorf("deactivate %s %s: %w", r.store(other).Label(), otherID, err)
			}
			r.st.Writes++
			reason += fmt.Sprintf("; deactivated in %s", other)
		default:
			reason += fmt.Sprintf("; %s record kept (delete policy %s)", other, r.p.DeletePolicy.Policy)
		}
	}
	r.st.State, r.st.Reason = domain.StateDeleted, reason
	r.st.Applied++
	r.res.Outcome.Action = domain.ActionDeleted
	r.res.State = r.st
	r.e.log.InfoContext(ctx, "delete policy applied", "pairing", r.p.Name, "link", r.in.LinkID, "reason", reason)
	return r.res, nil
}
