package webcrm

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// DefaultMaxURLLength bounds the length of a request URL the client sends. webCRM
// documents no limit; IIS, which serves many .NET APIs, refuses query strings over
// 2,048 characters by default, so look-ups that list many values are split to stay
// below that with a margin.
const DefaultMaxURLLength = 2000

// Cond is a condition of a /Queries WHERE clause. Build it with Eq, EqInt, Gt, Ge, Lt,
// AtOrAfter, Before, After, AtTime, AnyOf and AllOf: they quote every value, so no
// value can change the script's meaning.
type Cond struct {
	render func(f timeFormatter) string
}

// timeFormatter renders a time as a /Queries literal body (no quotes).
type timeFormatter func(time.Time) string

func (c Cond) valid() bool { return c.render != nil }

func literal(s string) Cond {
	return Cond{render: func(timeFormatter) string { return s }}
}

// Eq is property = 'value' (webCRM compares text case-insensitively).
func Eq(property, value string) Cond { return literal(property + " = " + quote(value)) }

// EqInt is property = n.
func EqInt(property string, n int) Cond { return literal(property + " = " + strconv.Itoa(n)) }

// Gt is property > n.
func Gt(property string, n int) Cond { return literal(property + " > " + strconv.Itoa(n)) }

// Lt is property < n.
func Lt(property string, n int) Cond { return literal(property + " < " + strconv.Itoa(n)) }

func timeCond(property, op string, t time.Time) Cond {
	return Cond{render: func(f timeFormatter) string { return property + " " + op + " " + quote(f(t)) }}
}

// AtOrAfter is property >= t.
func AtOrAfter(property string, t time.Time) Cond { return timeCond(property, ">=", t) }

// Before is property < t.
func Before(property string, t time.Time) Cond { return timeCond(property, "<", t) }

// After is property > t.
func After(property string, t time.Time) Cond { return timeCond(property, ">", t) }

// AtTime is property = t.
func AtTime(property string, t time.Time) Cond { return timeCond(property, "=", t) }

// AnyOf joins conditions with OR, in parentheses. With no condition it is nothing
// (the zero Cond), which AllOf and Where leave out.
func AnyOf(conds ...Cond) Cond { return junction(" OR ", conds) }

// AllOf joins conditions with AND, in parentheses.
func AllOf(conds ...Cond) Cond { return junction(" AND ", conds) }

func junction(sep string, conds []Cond) Cond {
	var kept []Cond
	for _, c := range conds {
		if c.valid() {
			kept = append(kept, c)
		}
	}
	switch len(kept) {
	case 0:
		return Cond{}
	case 1:
		return kept[0]
	}
	return Cond{render: func(f timeFormatter) string {
		parts := make([]string, len(kept))
		for i, c := range kept {
			parts[i] = c.render(f)
		}
		return "(" + strings.Join(parts, sep) + ")"
	}}
}

// Script is a /Queries script over one entity's table: SELECT columns FROM table
// [WHERE conditions] [ORDER BY columns]. The zero value is not usable; start with
// Select. Scripts are values: every method returns a new one.
type Script struct {
	entity  Entity
	columns []string
	where   []Cond
	order   []string
}

// Select starts a script that reads the given properties of e (all of them when none
// are given).
func Select(e Entity, columns ...string) Script {
	return Script{entity: e, columns: append([]string(nil), columns...)}
}

// Entity returns the entity the script reads.
func (s Script) Entity() Entity { return s.entity }

// Where adds a condition; several are ANDed.
func (s Script) Where(c Cond) Script {
	if !c.valid() {
		return s
	}
	s.where = append(append([]Cond(nil), s.where...), c)
	return s
}

// OrderBy sets the ORDER BY columns ("OrganisationId", "OrganisationUpdatedAt DESC").
func (s Script) OrderBy(columns ...string) Script {
	s.order = append([]string(nil), columns...)
	return s
}

// render writes the script with times formatted by f.
func (s Script) render(f timeFormatter) string {
	var b strings.Builder
	b.WriteString("SELECT ")
	if len(s.columns) == 0 {
		b.WriteString("*")
	} else {
		b.WriteString(strings.Join(s.columns, ", "))
	}
	b.WriteString(" FROM ")
	b.WriteString(s.entity.Table())
	if len(s.where) > 0 {
		b.WriteString(" WHERE ")
		for i, c := range s.where {
			if i > 0 {
				b.WriteString(" AND ")
			}
			b.WriteString(c.render(f))
		}
	}
	if len(s.order) > 0 {
		b.WriteString(" ORDER BY ")
		b.WriteString(strings.Join(s.order, ", "))
	}
	return b.String()
}

// String renders the script with times in UTC, for logs and tests.
func (s Script) String() string { return s.render(FormatTime) }

func (s Script) check(op string) error {
	if !s.entity.Valid() {
		return fmt.Errorf("webcrm: %s: %w: unknown entity %q", op, ErrInvalidArgument, string(s.entity))
	}
	for _, col := range s.columns {
		if !identRe.MatchString(col) {
			return fmt.Errorf("webcrm: %s %s: %w: %q is not a property name", op, s.entity, ErrInvalidArgument, col)
		}
	}
	return nil
}

// withID returns the script's columns with the id column added when columns are
// named and it is not among them.
func (s Script) withID() Script {
	if len(s.columns) == 0 {
		return s
	}
	id := s.entity.IDField()
	for _, c := range s.columns {
		if strings.EqualFold(c, id) {
			return s
		}
	}
	s.columns = append(append([]string(nil), s.columns...), id)
	return s
}

// Run runs the script and returns one page of rows. Rows come in the script's ORDER BY
// order; without one, webCRM promises no order at all, so paging such a script by page
// number may skip and repeat rows: use Scan to read a whole result.
func (c *Client) Run(ctx context.Context, s Script, page, size int) ([]Record, error) {
	if err := s.check("Query"); err != nil {
		return nil, err
	}
	return c.query(ctx, "Query", s.entity, c.script(s), page, size)
}

// script renders s with the client's time format.
func (c *Client) script(s Script) string { return s.render(c.formatTime) }

// Scan reads every row of the script, size rows a request (0 means 1000), and calls fn
// with each non-empty page. It orders by the entity's id and pages by keyset (each
// request asks for the ids after the last one seen, always page 1), so rows written,
// deleted or reordered while it runs never make it skip a row that exists throughout,
// whatever order the server would give an unordered script. An ORDER BY of the script
// is replaced. A row without a usable id, or rows that do not come in the order asked
// for, make it fail: the result could not be trusted to be whole. An error from fn
// stops the walk and is returned as it is.
func (c *Client) Scan(ctx context.Context, s Script, size int, fn func(page []Record) error) error {
	if err := s.check("Scan"); err != nil {
		return err
	}
	if size <= 0 || size > MaxPageSize {
		size = MaxPageSize
	}
	e := s.entity
	base := s.withID().OrderBy(e.IDField() + " ASC")
	last := 0
	for {
		rows, err := c.query(ctx, "Scan", e, c.script(base.Where(Gt(e.IDField(), last))), 1, size)
		if err != nil {
			return err
		}
		if len(rows) == 0 {
			return nil
		}
		prev := last
		seen := make(map[int]bool, len(rows))
		page := rows[:0:0]
		for i, r := range rows {
			id, err := r.ID(e)
			if err != nil {
				return &APIError{Op: "Scan", Entity: e, Status: http.StatusOK, Malformed: true, Err: err}
			}
			if seen[id] {
				continue // the same row twice (a join, a server's glitch): one is enough
			}
			if id <= prev {
				return &APIError{Op: "Scan", Entity: e, ID: strconv.Itoa(id), Status: http.StatusOK, Malformed: true,
					Message: fmt.Sprintf("row %d of a page ordered by %s is not after %d: the server ignored ORDER BY or the id condition", i+1, e.IDField(), prev)}
			}
			seen[id], prev = true, id
			page = append(page, r)
		}
		last = prev
		if err := fn(page); err != nil {
			return err
		}
		if len(rows) < size {
			return nil
		}
	}
}

// FindAny reads every row of the script whose property equals one of values, and calls
// fn with each page. The values are asked for in as few requests as fit in the URL
// limit (Config.MaxURLLength), each an OR of equalities ANDed to the script's
// conditions and read with Scan; duplicate values are asked for once.
func (c *Client) FindAny(ctx context.Context, s Script, property string, values []string, fn func(page []Record) error) error {
	if !identRe.MatchString(property) {
		return fmt.Errorf("webcrm: FindAny %s: %w: %q is not a property name", s.entity, ErrInvalidArgument, property)
	}
	conds := make([]Cond, 0, len(values))
	seen := make(map[string]bool, len(values))
	for _, v := range values {
		if k := strings.ToLower(v); !seen[k] {
			seen[k] = true
			conds = append(conds, Eq(property, v))
		}
	}
	return c.scanChunks(ctx, s, conds, fn)
}

// FindIDs reads the rows of the script whose id is one of ids, like FindAny.
func (c *Client) FindIDs(ctx context.Context, s Script, ids []int, fn func(page []Record) error) error {
	conds := make([]Cond, 0, len(ids))
	seen := make(map[int]bool, len(ids))
	for _, id := range ids {
		if id > 0 && !seen[id] {
			seen[id] = true
			conds = append(conds, EqInt(s.entity.IDField(), id))
		}
	}
	return c.scanChunks(ctx, s, conds, fn)
}

// keysetReserve is room left in a URL for the condition Scan adds (" AND XId > n",
// encoded) and for the Page and Size values.
const keysetReserve = 64

// scanChunks scans s once per chunk of conds (ORed), each chunk as large as fits.
func (c *Client) scanChunks(ctx context.Context, s Script, conds []Cond, fn func(page []Record) error) error {
	if err := s.check("FindAny"); err != nil {
		return err
	}
	base := s.withID().OrderBy(s.entity.IDField() + " ASC")
	for start := 0; start < len(conds); {
		n, err := c.fitChunk(base, conds[start:])
		if err != nil {
			return err
		}
		if err := c.Scan(ctx, s.Where(AnyOf(conds[start:start+n]...)), MaxPageSize, fn); err != nil {
			return err
		}
		start += n
	}
	return nil
}

// fitChunk returns how many of conds, ORed onto s, fit in the URL limit: at least
// one, or an error naming the condition that alone is too long.
func (c *Client) fitChunk(s Script, conds []Cond) (int, error) {
	fits := func(n int) bool {
		q := pageQuery(1, MaxPageSize)
		q.Set("script", c.script(s.Where(AnyOf(conds[:n]...))))
		q.Set("formatCustomFields", "true")
		return len(c.url("/Queries", q))+keysetReserve <= c.maxURL
	}
	if !fits(1) {
		return 0, fmt.Errorf("webcrm: FindAny %s: %w: one condition alone (%s) makes a URL longer than %d characters",
			s.entity, ErrInvalidArgument, excerpt([]byte(conds[0].render(c.formatTime)), 80), c.maxURL)
	}
	// The encoded length grows with every condition: find the largest n that fits.
	lo, hi := 1, len(conds)
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if fits(mid) {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo, nil
}

// formatTime renders t as a /Queries time literal: in UTC with a Z, or, when the
// account writes local time (Config.TimeZone), as that zone's wall time without an
// offset, the way the server writes its own timestamps.
func (c *Client) formatTime(t time.Time) string {
	if c.loc == nil || c.loc == time.UTC {
		return FormatTime(t)
	}
	return t.In(c.loc).Format(localWireLayout)
}

// localWireLayout is WireTimeLayout without the zone.
const localWireLayout = "2006-01-02T15:04:05.0000000"
