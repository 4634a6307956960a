package mappings

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tandemsync/tandem/domain"
)

// TestStoredAsTellsTheServersRewritesFromEdits: what a server may make of a value on
// its own (spacing, case, cut short) is a rewrite; anything else is an edit.
func TestStoredAsTellsTheServersRewritesFromEdits(t *testing.T) {
	t.Parallel()
	p := widgets(t)
	sent := Canonical{"newest": "+45 11 22 33 44", "crm-owned": "Acme Corporation", "erp-owned": "same", "to-erp": "Quiet", "count": int64(3)}
	stored := Canonical{"newest": "+4511223344", "crm-owned": "Acme Corp", "erp-owned": "same", "to-erp": "Loud", "count": int64(3)}
	rewritten, edited := p.StoredAs(domain.WebCRM, sent, stored, []string{"newest", "crm-owned", "erp-owned", "to-erp", "count"})
	assert.Equal(t, Canonical{"newest": "+4511223344", "crm-owned": "Acme Corp"}, rewritten)
	assert.Equal(t, []string{"to-erp"}, edited)

	for sent, stored := range map[string]string{"ab cd": "AB CD", "x": "X ", "Acme": "Acme"} {
		rewritten, edited := p.StoredAs(domain.WebCRM, Canonical{"newest": sent}, Canonical{"newest": stored}, []string{"newest"})
		assert.Empty(t, edited, "%q -> %q", sent, stored)
		if sent != stored {
			assert.Len(t, rewritten, 1, "%q -> %q", sent, stored)
		}
	}
	// Cleared, or a longer value, is no rewrite.
	for _, stored := range []any{nil, "", "Acme Corporation International"} {
		_, edited := p.StoredAs(domain.WebCRM, Canonical{"newest": "Acme Corporation"}, Canonical{"newest": stored}, []string{"newest"})
		assert.Equal(t, []string{"newest"}, edited, "%v", stored)
	}
	// A value cut at the side's own maximum length agrees already.
	r, e := p.StoredAs(domain.WebCRM, Canonical{"short-crm": "abcdef"}, Canonical{"short-crm": "abc"}, []string{"short-crm"})
	assert.Empty(t, r)
	assert.Empty(t, e)
}

// TestMergeTakesAStoredAsValueForTheSnapshot: webCRM stores a phone number without its
// spaces. While it holds that form, the field is unchanged on webCRM's side: no write
// to the ERP, no write back to webCRM. An edit in either system still crosses.
func TestMergeTakesAStoredAsValueForTheSnapshot(t *testing.T) {
	t.Parallel()
	p := widgets(t)
	base := Canonical{"newest": "+45 11 22 33 44", "to-crm": "x"}
	storedW := Canonical{"newest": "+4511223344"}
	in := MergeInput{Pairing: p, Base: base,
		WebCRM: Canonical{"newest": "+4511223344", "to-crm": "x"}, ERP: Canonical{"newest": "+45 11 22 33 44", "to-crm": "x"},
		WebCRMStored: storedW}
	m := Merge(in)
	assert.Empty(t, m.ToWebCRM)
	assert.Empty(t, m.ToERP)
	assert.Equal(t, "+45 11 22 33 44", m.Merged["newest"], "the snapshot keeps the synced value")

	without := in
	without.WebCRMStored = nil
	assert.Equal(t, []string{"newest"}, Merge(without).ToERP, "without it the stored form reads as an edit")

	edited := in
	edited.WebCRM = Canonical{"newest": "+45 99 99 99 99", "to-crm": "x"}
	m = Merge(edited)
	assert.Equal(t, []string{"newest"}, m.ToERP)
	assert.Equal(t, "+45 99 99 99 99", m.Merged["newest"])

	erpEdit := in
	erpEdit.ERP = Canonical{"newest": "+45 55 55 55 55", "to-crm": "x"}
	m = Merge(erpEdit)
	assert.Equal(t, []string{"newest"}, m.ToWebCRM)
	assert.Empty(t, m.ToERP)

	// A one-way field held in its stored form is not written back either.
	oneWay := MergeInput{Pairing: p, Base: Canonical{"to-crm": "A B"},
		WebCRM: Canonical{"to-crm": "AB"}, ERP: Canonical{"to-crm": "A B"}, WebCRMStored: Canonical{"to-crm": "AB"}}
	m = Merge(oneWay)
	assert.Empty(t, m.ToWebCRM)
	assert.Empty(t, m.Conflicts)
}

func TestStoredFieldsAndSameValue(t *testing.T) {
	t.Parallel()
	p := widgets(t)
	fields := p.StoredFields(domain.WebCRM)
	require.Contains(t, fields, "newest")
	assert.Len(t, fields, len(p.Fields))
	assert.True(t, p.SameValue("count", int64(3), float64(3)))
	assert.False(t, p.SameValue("newest", "a", "b"))
	assert.Equal(t, []string{"newest"}, p.ChangedFields(Canonical{"newest": "a", "count": int64(1)}, Canonical{"newest": "b", "count": int64(1)}, nil))
}
