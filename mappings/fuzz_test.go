package mappings

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
	"github.com/tandemsync/tandem/domain"
)

// FuzzNormalise feeds arbitrary text and numbers to every type's normaliser: it never
// panics, and normalising a normalised value changes nothing.
func FuzzNormalise(f *testing.F) {
	for _, s := range []string{"0.1", "1.50", "-0", "1E+2", "1e60", "NaN", "2024-02-29", "2024-02-29T12:00:00.1234567Z",
		"2024-02-29T13:00:00+01:00", "yes", "Ærø", "a\r\nb", " 12 ", "9223372036854775808", "0x10", ""} {
		f.Add(s, 0.1+0.2)
	}
	f.Add("", math.Inf(1))
	f.Add("", math.NaN())
	f.Add("", 1e300)
	f.Add("", -5e-324)
	f.Fuzz(func(t *testing.T, s string, x float64) {
		for _, typ := range []Type{TypeString, TypeInt, TypeDecimal, TypeBool, TypeDate, TypeDateTime, TypeID} {
			for _, in := range []any{s, json.Number(s), x} {
				v, err := normalise(typ, in)
				if err != nil || v == nil {
					continue
				}
				again, err := normalise(typ, v)
				require.NoError(t, err, "%s %#v -> %#v", typ, in, v)
				require.Equal(t, v, again, "%s %#v", typ, in)
			}
		}
	})
}

// FuzzTransforms checks the text transforms: cutting keeps valid text within the limit,
// and multi-line addresses and split names come back as they went out.
func FuzzTransforms(f *testing.F) {
	for _, s := range []string{"Søndergade 5\n2. sal\nBagindgang", "Ann Bø Ås", "Bjørk", " a \n\n b ", "æøåÆØÅ", "\xff\xfe", "a\r\nb", ""} {
		f.Add(s, 3)
	}
	s := loadDefaults(f)
	orgs, users := pairing(f, s, "organisations"), pairing(f, s, "users")
	addr, _ := orgs.Field("address")
	name, _ := users.Field("name")
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, in string, n int) {
		n = int(uint(n)%300) + 1
		cut := truncate(in, n)
		require.True(t, strings.HasPrefix(in, cut))
		require.LessOrEqual(t, utf8.RuneCountInString(cut), n)
		if utf8.ValidString(in) {
			require.True(t, utf8.ValidString(cut))
		}
		first, last := splitName(in)
		require.NotContains(t, last, " ")
		_ = first

		for _, tc := range []struct {
			p *Pairing
			f *Field
		}{{orgs, addr}, {users, name}} {
			raw, err := normString(in)
			if err != nil || raw == nil {
				continue
			}
			canon := tc.f.transform(raw.(string))
			if canon == nil {
				continue
			}
			c := Canonical{tc.f.Name: canon}
			rec, _, err := tc.p.ToERP(ctx, c, []string{tc.f.Name}, nil)
			require.NoError(t, err)
			back, _, err := tc.p.FromERP(ctx, rec, nil)
			require.NoError(t, err)
			require.Equal(t, canon, back[tc.f.Name], "%q via %v", in, rec)

			web, warns, err := tc.p.ToWebCRM(ctx, c, []string{tc.f.Name}, nil)
			require.NoError(t, err)
			back, _, err = tc.p.FromWebCRM(ctx, web, nil)
			require.NoError(t, err)
			require.True(t, tc.f.agreeSide(domain.WebCRM, back[tc.f.Name], canon), "%q came back as %q (warnings %v)", canon, back[tc.f.Name], warns)
		}
	})
}

// FuzzFromRecords maps arbitrary JSON objects with every default pairing: no panics, and
// what maps without error maps back without error.
func FuzzFromRecords(f *testing.F) {
	for _, s := range []string{
		`{"OrganisationName":"Ærø","OrganisationAddress":"a\nb","OrganisationCountry":"Norge","PersonOrganisationId":17}`,
		`{"postalAddress":{"line1":"x","line2":7},"customerId":"cu-17","active":"yes","salesPrice":0.30}`,
		`{"PersonBirthday":"1980-02-29T00:00:00Z","PersonStatus":"Active","ProductPrice":1e400}`,
		`{"OpportunityWinYesNo":"true","OpportunityLostDate":"x","QuotationLineSortOrder":3.0,"sortOrder":"2"}`,
		`{"postalAddress":"not an object","fullName":["a"],"orderId":"ord-901","status":"won"}`,
	} {
		f.Add([]byte(s))
	}
	s := loadDefaults(f)
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, data []byte) {
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		var rec map[string]any
		if dec.Decode(&rec) != nil {
			return
		}
		for _, p := range s.Pairings() {
			for _, side := range []domain.Side{domain.WebCRM, domain.ERP} {
				var c Canonical
				var err error
				if side == domain.WebCRM {
					c, _, err = p.FromWebCRM(ctx, rec, testLinks())
				} else {
					c, _, err = p.FromERP(ctx, rec, testLinks())
				}
				if err != nil {
					continue
				}
				_ = Hash(c)
				_, _, err = p.ToWebCRM(ctx, c, p.WritableFields(domain.WebCRM, false), testLinks())
				require.NoError(t, err, "%s to webCRM from %s %v", p.Name, side, c)
				_, _, err = p.ToERP(ctx, c, p.WritableFields(domain.ERP, false), testLinks())
				require.NoError(t, err, "%s to ERP from %s %v", p.Name, side, c)
			}
		}
	})
}

// FuzzMerge merges arbitrary states of the widgets pairing (one field per rule): it never
// panics, is deterministic, settles after one round of writes, merging a result with
// itself writes nothing, and swapping the sides mirrors the result.
func FuzzMerge(f *testing.F) {
	f.Add([]byte{0xff, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29}, int8(0), int8(1))
	f.Add([]byte{0x07, 3, 3, 4, 0, 1, 2, 5, 5, 5, 2, 3, 4, 4, 4, 1}, int8(5), int8(5))
	f.Add([]byte{0x06, 0, 1, 2, 2, 1, 0, 4, 3, 3}, int8(-3), int8(2))
	f.Add([]byte{0x05}, int8(1), int8(0))
	f.Add([]byte{0x03, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9}, int8(2), int8(1))
	p := widgets(f)
	texts := []any{nil, "", "a", "b", "abc", "abcd", "abce", "ab", "ÆØÅæøå"}
	counts := []any{nil, int64(1), int64(2), float64(1), float64(2)}
	f.Fuzz(func(t *testing.T, data []byte, wt, et int8) {
		next := func() int {
			if len(data) == 0 {
				return 0
			}
			b := int(data[0])
			data = data[1:]
			return b
		}
		present := next()
		in := MergeInput{
			Pairing:         p,
			WebCRMUpdatedAt: t0.Add(time.Duration(wt) * time.Second),
			ERPUpdatedAt:    t0.Add(time.Duration(et) * time.Second),
		}
		if present&1 != 0 {
			in.Base = Canonical{}
		}
		if present&2 != 0 {
			in.WebCRM = Canonical{}
		}
		if present&4 != 0 {
			in.ERP = Canonical{}
		}
		for i := range p.Fields {
			fd := &p.Fields[i]
			pool := texts
			if fd.Type == TypeInt {
				pool = counts
			}
			for _, tc := range []struct {
				c    Canonical
				side domain.Side
			}{{in.Base, ""}, {in.WebCRM, domain.WebCRM}, {in.ERP, domain.ERP}} {
				v := pool[next()%len(pool)]
				if tc.c == nil || v == nil {
					continue
				}
				if s, ok := v.(string); ok && tc.side != "" && fd.Side(tc.side).MaxLength > 0 {
					v = truncate(s, fd.Side(tc.side).MaxLength) // a side never holds more than its limit
				}
				tc.c[fd.Name] = v
			}
		}
		res := Merge(in)
		require.Equal(t, res, Merge(in), "deterministic")
		requireSettled(t, in, res)
		if !in.WebCRMUpdatedAt.Equal(in.ERPUpdatedAt) {
			requireMirrored(t, in, res)
		}
	})
}

// FuzzParseFile feeds arbitrary YAML to the loader: it never panics, and a file it accepts
// maps an empty record from both sides without panicking either.
func FuzzParseFile(f *testing.F) {
	entries, err := fs.ReadDir(DefaultFiles(), ".")
	require.NoError(f, err)
	for _, e := range entries {
		data, err := fs.ReadFile(DefaultFiles(), e.Name())
		require.NoError(f, err)
		f.Add(data)
	}
	broken, err := filepath.Glob("testdata/invalid/*/*.yaml")
	require.NoError(f, err)
	for _, name := range broken {
		data, err := os.ReadFile(name)
		require.NoError(f, err)
		f.Add(data)
	}
	schemas := testSchemas()
	f.Fuzz(func(t *testing.T, data []byte) {
		pf, _ := parseFile("fuzz.yaml", "fuzz", data, schemas)
		if pf == nil || pf.failed {
			return
		}
		for _, side := range []domain.Side{domain.WebCRM, domain.ERP} {
			c, _, err := pf.p.from(context.Background(), side, map[string]any{}, testLinks())
			if err == nil {
				_, _, _ = pf.p.to(context.Background(), side, c, pf.p.FieldNames(), testLinks())
			}
		}
		_ = Merge(MergeInput{Pairing: pf.p, WebCRM: Canonical{}, ERP: Canonical{}})
	})
}
