package mappings

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestNormaliseValues(t *testing.T) {
	t.Parallel()
	cases := []struct {
		typ     Type
		in      any
		want    any
		wantErr string
	}{
		{TypeDecimal, 0.1 + 0.2, "0.3", ""},
		{TypeDecimal, json.Number("0.30000000000000004"), "0.30000000000000004", ""}, // exact text stays exact
		{TypeDecimal, "1.50", "1.5", ""},
		{TypeDecimal, json.Number("1.5"), "1.5", ""},
		{TypeDecimal, float64(1.5), "1.5", ""},
		{TypeDecimal, json.Number("1E+2"), "100", ""},
		{TypeDecimal, json.Number("-0.000"), "0", ""},
		{TypeDecimal, json.Number("0"), "0", ""},
		{TypeDecimal, 1234567.891, "1234567.891", ""},
		{TypeDecimal, int64(42), "42", ""},
		{TypeDecimal, " 12.000 ", "12", ""},
		{TypeDecimal, "", nil, ""},
		{TypeDecimal, nil, nil, ""},
		{TypeDecimal, "NaN", nil, "not a finite number"},
		{TypeDecimal, "1e60", nil, "out of range"},
		{TypeDecimal, "1e999999", nil, "not a decimal number"},
		{TypeDecimal, "12,5", nil, "not a decimal number"},
		{TypeDecimal, true, nil, "not a number"},
		{TypeInt, json.Number("3"), int64(3), ""},
		{TypeInt, float64(3), int64(3), ""},
		{TypeInt, "3.0", int64(3), ""},
		{TypeInt, 2.5, nil, "not a whole number"},
		{TypeInt, "", nil, ""},
		{TypeBool, true, true, ""},
		{TypeBool, "Yes", true, ""},
		{TypeBool, "false", false, ""},
		{TypeBool, json.Number("0"), false, ""},
		{TypeBool, "maybe", nil, "not true or false"},
		{TypeDate, "2024-02-29", "2024-02-29", ""},
		{TypeDate, "2024-02-29T00:00:00.0000000Z", "2024-02-29", ""},
		{TypeDate, "2024-02-29T23:30:00-05:00", "2024-02-29", ""}, // the date as written, not moved to UTC
		{TypeDate, "29/02/2024", nil, "not a date"},
		{TypeDateTime, "2024-02-29T12:00:00.1234567Z", "2024-02-29T12:00:00.1234567Z", ""},
		{TypeDateTime, "2024-02-29T12:00:00", "2024-02-29T12:00:00Z", ""}, // no offset = UTC
		{TypeDateTime, "2024-02-29T13:00:00+01:00", "2024-02-29T12:00:00Z", ""},
		{TypeDateTime, "2024-02-29 12:00:00", "2024-02-29T12:00:00Z", ""},
		{TypeString, "Blåbærsyltetøj", "Blåbærsyltetøj", ""},
		{TypeString, "a\r\nb", "a\nb", ""},
		{TypeString, json.Number("0042"), "42", ""},
		{TypeString, "", nil, ""},
		{TypeString, map[string]any{}, nil, "not text"},
		{TypeID, json.Number("17"), "17", ""},
		{TypeID, float64(17), "17", ""},
		{TypeID, 0, nil, ""},
		{TypeID, "x", nil, "not a decimal number"},
	}
	for _, tc := range cases {
		got, err := normalise(tc.typ, tc.in)
		if tc.wantErr != "" {
			require.ErrorContains(t, err, tc.wantErr, "%s %#v", tc.typ, tc.in)
			continue
		}
		require.NoError(t, err, "%s %#v", tc.typ, tc.in)
		require.Equal(t, tc.want, got, "%s %#v", tc.typ, tc.in)
	}
}

func TestHash(t *testing.T) {
	t.Parallel()
	a := Canonical{"name": "Ærø", "sort-order": int64(3), "active": true, "price": "0.3"}
	b := Canonical{}
	for _, k := range []string{"price", "active", "sort-order", "name"} {
		b[k] = a[k]
	}
	require.Equal(t, Hash(a), Hash(b), "key order does not matter")
	require.Len(t, Hash(a), 64)

	// A snapshot that went through JSON (Temporal payloads) hashes the same.
	raw, err := json.Marshal(a)
	require.NoError(t, err)
	var back Canonical
	require.NoError(t, json.Unmarshal(raw, &back))
	require.IsType(t, float64(0), back["sort-order"])
	require.Equal(t, Hash(a), Hash(back))

	// Empty values are no values.
	c := Canonical{"name": "Ærø", "sort-order": int64(3), "active": true, "price": "0.3", "city": nil, "phone": ""}
	require.Equal(t, Hash(a), Hash(c))
	require.Equal(t, Hash(nil), Hash(Canonical{}))

	// Different values, types or keys differ.
	for _, d := range []Canonical{
		{"name": "Aerø", "sort-order": int64(3), "active": true, "price": "0.3"},
		{"name": "Ærø", "sort-order": "3", "active": true, "price": "0.3"},
		{"name": "Ærø", "sort-order": int64(3), "active": false, "price": "0.3"},
		{"name": "Ærø", "sort-order": int64(3), "active": true, "price": "0.30000000000000004"},
		{"navn": "Ærø", "sort-order": int64(3), "active": true, "price": "0.3"},
		{"name": "Ærø", "sort-order": int64(3), "active": true},
	} {
		require.NotEqual(t, Hash(a), Hash(d), "%v", d)
	}
	// No ambiguity between keys and values.
	require.NotEqual(t, Hash(Canonical{"ab": "c"}), Hash(Canonical{"a": "bc"}))
}

func TestMergeKeys(t *testing.T) {
	t.Parallel()
	s := loadDefaults(t)
	org := pairing(t, s, "organisations")
	k1, ok := org.MatchKey(Canonical{"vat-number": "DK 12.34-56 78"})
	require.True(t, ok)
	k2, _ := org.MatchKey(Canonical{"vat-number": "dk12345678"})
	require.Equal(t, "DK12345678", k1)
	require.Equal(t, k1, k2)
	_, ok = org.MatchKey(Canonical{"name": "no VAT number"})
	require.False(t, ok)

	persons := pairing(t, s, "persons")
	k, ok := persons.MatchKey(Canonical{"email": " Åse@Fjord.NO"})
	require.True(t, ok)
	require.Equal(t, "åse@fjord.no", k)

	_, ok = pairing(t, s, "opportunities").MatchKey(Canonical{"number": "T-1"})
	require.False(t, ok, "opportunities are never merged")
}
