package webcrmsim

import (
	"cmp"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// tri is SQL's three-valued logic.
type tri int8

const (
	triFalse tri = iota
	triTrue
	triUnknown
)

func (t tri) not() tri {
	switch t {
	case triTrue:
		return triFalse
	case triFalse:
		return triTrue
	}
	return triUnknown
}

func triOf(b bool) tri {
	if b {
		return triTrue
	}
	return triFalse
}

// qrow is one result row: a record of the FROM table and, with a JOIN, one
// of the joined table (nil for an unmatched LEFT JOIN row).
type qrow struct {
	a, b record
}

type predicate func(qrow) tri

// boundCol is a resolved column: side 0 is the FROM table, 1 the joined.
type boundCol struct {
	side int
	prop *genProp
}

func (c boundCol) get(r qrow) (any, bool) {
	rec := r.a
	if c.side == 1 {
		rec = r.b
	}
	if rec == nil {
		return nil, false
	}
	v, ok := rec[c.prop.Name]
	return v, ok && v != nil
}

// compiledQuery is a parsed and type-checked script.
type compiledQuery struct {
	from, join *entity
	leftJoin   bool
	on         predicate
	hashOn     *[2]boundCol // equality join on these columns (side 0, side 1)
	where      predicate
	cols       []boundCol // nil means all columns
	orderBy    []boundCol
	desc       []bool
}

type sourceTable struct {
	ent   *entity
	alias string
}

type compiler struct {
	sources []sourceTable
	zone    *time.Location // of date-time literals without an offset
}

func compileQuery(ast *queryAST) (*compiledQuery, error) { return compileQueryIn(ast, time.UTC) }

// compileQueryIn compiles with date-time literals without an offset read
// as wall time in zone.
func compileQueryIn(ast *queryAST, zone *time.Location) (*compiledQuery, error) {
	from, ok := entities.find(ast.from.name)
	if !ok {
		return nil, qerr(ast.from.pos, "unknown table %q; use one of Organisation, Person, User, Product, Opportunity, QuotationLine", ast.from.name)
	}
	c := &compiler{sources: []sourceTable{{ent: from, alias: ast.from.alias}}, zone: zone}
	q := &compiledQuery{from: from}
	if ast.join != nil {
		j, ok := entities.find(ast.join.table.name)
		if !ok {
			return nil, qerr(ast.join.table.pos, "unknown table %q", ast.join.table.name)
		}
		q.join, q.leftJoin = j, ast.join.left
		c.sources = append(c.sources, sourceTable{ent: j, alias: ast.join.table.alias})
		if cc, ok := ast.join.on.(cmpCond); ok && cc.op == "=" && cc.l.col != nil && cc.r.col != nil {
			l, err := c.resolve(*cc.l.col)
			if err != nil {
				return nil, err
			}
			r, err := c.resolve(*cc.r.col)
			if err != nil {
				return nil, err
			}
			if l.side != r.side {
				if l.side == 1 {
					l, r = r, l
				}
				q.hashOn = &[2]boundCol{l, r}
			}
		}
		on, err := c.cond(ast.join.on)
		if err != nil {
			return nil, err
		}
		q.on = on
	}
	if ast.where != nil {
		w, err := c.cond(ast.where)
		if err != nil {
			return nil, err
		}
		q.where = w
	}
	for _, col := range ast.cols {
		b, err := c.resolve(col)
		if err != nil {
			return nil, err
		}
		q.cols = append(q.cols, b)
	}
	for _, o := range ast.orderBy {
		b, err := c.resolve(o.col)
		if err != nil {
			return nil, err
		}
		q.orderBy = append(q.orderBy, b)
		q.desc = append(q.desc, o.desc)
	}
	return q, nil
}

func (c *compiler) resolve(col colExpr) (boundCol, error) {
	key := strings.ToLower(col.name)
	if col.qual != "" {
		for i, s := range c.sources {
			if strings.EqualFold(col.qual, s.alias) || (s.alias == "" && (strings.EqualFold(col.qual, s.ent.Table) || strings.EqualFold(col.qual, s.ent.Name))) {
				p, ok := s.ent.column[key]
				if !ok {
					return boundCol{}, qerr(col.pos, "unknown column %q in table %s", col.name, s.ent.Table)
				}
				return boundCol{side: i, prop: p}, nil
			}
		}
		return boundCol{}, qerr(col.pos, "unknown table or alias %q", col.qual)
	}
	for i, s := range c.sources {
		if p, ok := s.ent.column[key]; ok {
			return boundCol{side: i, prop: p}, nil
		}
	}
	return boundCol{}, qerr(col.pos, "unknown column %q", col.name)
}

func (c *compiler) cond(x cond) (predicate, error) {
	switch n := x.(type) {
	case andCond:
		return c.junction(n.l, n.r, triFalse)
	case orCond:
		return c.junction(n.l, n.r, triTrue)
	case notCond:
		inner, err := c.cond(n.x)
		if err != nil {
			return nil, err
		}
		return func(row qrow) tri { return inner(row).not() }, nil
	case cmpCond:
		return c.compare(n.op, n.l, n.r)
	case isNullCond:
		if n.x.lit != nil {
			isNull := n.x.lit.kind == litNull
			v := triOf(isNull != n.not)
			return func(qrow) tri { return v }, nil
		}
		col, err := c.resolve(*n.x.col)
		if err != nil {
			return nil, err
		}
		not := n.not
		return func(row qrow) tri {
			_, ok := col.get(row)
			return triOf(ok == not)
		}, nil
	case inCond:
		var preds []predicate
		for _, it := range n.list {
			p, err := c.compare("=", n.x, it)
			if err != nil {
				return nil, err
			}
			preds = append(preds, p)
		}
		not := n.not
		return func(row qrow) tri {
			res := triFalse
			for _, p := range preds {
				switch p(row) {
				case triTrue:
					res = triTrue
				case triUnknown:
					if res == triFalse {
						res = triUnknown
					}
				}
				if res == triTrue {
					break
				}
			}
			if not {
				return res.not()
			}
			return res
		}, nil
	case likeCond:
		if n.x.col == nil {
			return nil, qerr(n.x.pos(), "LIKE needs a column on its left")
		}
		col, err := c.resolve(*n.x.col)
		if err != nil {
			return nil, err
		}
		pattern := []rune(strings.ToLower(n.pattern.text))
		not := n.not
		return func(row qrow) tri {
			v, ok := col.get(row)
			if !ok {
				return triUnknown
			}
			return triOf(likeMatch([]rune(strings.ToLower(valueText(v))), pattern) != not)
		}, nil
	}
	return nil, qerr(-1, "unsupported condition")
}

// valueText renders a stored value as text for string comparisons.
func valueText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return string(appendFloat(nil, x))
	case bool:
		if x {
			return "1"
		}
		return "0"
	}
	return ""
}

// likeMatch matches SQL LIKE: % any run, _ one character.
func likeMatch(s, p []rune) bool {
	si, pi := 0, 0
	star, mark := -1, 0
	for si < len(s) {
		switch {
		case pi < len(p) && (p[pi] == '_' || p[pi] == s[si]):
			si++
			pi++
		case pi < len(p) && p[pi] == '%':
			star, mark = pi, si
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '%' {
		pi++
	}
	return pi == len(p)
}

// junction compiles AND (dominant value false) or OR (dominant value
// true) in three-valued logic, skipping the right side when the left one
// decides.
func (c *compiler) junction(lx, rx cond, dominant tri) (predicate, error) {
	l, err := c.cond(lx)
	if err != nil {
		return nil, err
	}
	r, err := c.cond(rx)
	if err != nil {
		return nil, err
	}
	return func(row qrow) tri {
		a := l(row)
		if a == dominant {
			return dominant
		}
		b := r(row)
		if b == dominant {
			return dominant
		}
		if a == triUnknown || b == triUnknown {
			return triUnknown
		}
		return a
	}, nil
}

// cmpResult turns a three-way comparison into the operator's truth value.
func cmpResult(op string, c int) tri {
	switch op {
	case "=":
		return triOf(c == 0)
	case "!=":
		return triOf(c != 0)
	case "<":
		return triOf(c < 0)
	case "<=":
		return triOf(c <= 0)
	case ">":
		return triOf(c > 0)
	case ">=":
		return triOf(c >= 0)
	}
	return triUnknown
}

func flipOp(op string) string {
	switch op {
	case "<":
		return ">"
	case "<=":
		return ">="
	case ">":
		return "<"
	case ">=":
		return "<="
	}
	return op
}

func numeric(k propKind) bool { return k == kindInt32 || k == kindInt64 || k == kindDouble }

// compare compiles l op r. A column compared with a literal converts the
// literal to the column's type once: date-times compare as instants, numbers
// numerically, booleans as 0/1, enums by name or ordinal, strings
// case-insensitively. NULL on either side makes the comparison unknown.
func (c *compiler) compare(op string, l, r operand) (predicate, error) {
	if l.col == nil && r.col != nil {
		l, r = r, l
		op = flipOp(op)
	}
	if l.col == nil { // literal op literal
		if l.lit.kind == litNull || r.lit.kind == litNull {
			return func(qrow) tri { return triUnknown }, nil
		}
		var res tri
		lf, lerr := strconv.ParseFloat(l.lit.text, 64)
		rf, rerr := strconv.ParseFloat(r.lit.text, 64)
		if lerr == nil && rerr == nil {
			res = cmpResult(op, cmp.Compare(lf, rf))
		} else {
			res = cmpResult(op, strings.Compare(strings.ToLower(l.lit.text), strings.ToLower(r.lit.text)))
		}
		return func(qrow) tri { return res }, nil
	}
	lc, err := c.resolve(*l.col)
	if err != nil {
		return nil, err
	}
	if r.col != nil {
		rc, err := c.resolve(*r.col)
		if err != nil {
			return nil, err
		}
		return func(row qrow) tri {
			a, ok1 := lc.get(row)
			b, ok2 := rc.get(row)
			if !ok1 || !ok2 {
				return triUnknown
			}
			return cmpResult(op, compareValues(lc.prop, a, rc.prop, b))
		}, nil
	}
	lit := r.lit
	if lit.kind == litNull {
		return func(qrow) tri { return triUnknown }, nil
	}
	p := lc.prop
	switch {
	case p.Kind == kindDateTime:
		t, err := parseTimeIn(lit.text, c.zone)
		if err != nil {
			return nil, qerr(lit.pos, "column %s compares with a date-time, but %s", p.Name, err)
		}
		want := FormatTime(t)
		return func(row qrow) tri {
			v, ok := lc.get(row)
			if !ok {
				return triUnknown
			}
			s, _ := v.(string)
			return cmpResult(op, strings.Compare(s, want))
		}, nil
	case numeric(p.Kind):
		want, err := strconv.ParseFloat(strings.TrimSpace(lit.text), 64)
		if err != nil {
			return nil, qerr(lit.pos, "column %s is numeric, but '%s' is not a number", p.Name, lit.text)
		}
		return func(row qrow) tri {
			v, ok := lc.get(row)
			if !ok {
				return triUnknown
			}
			f, _ := toFloat(v)
			return cmpResult(op, cmp.Compare(f, want))
		}, nil
	case p.Kind == kindBool:
		var want bool
		switch strings.ToLower(strings.TrimSpace(lit.text)) {
		case "1", "true", "yes":
			want = true
		case "0", "false", "no":
		default:
			return nil, qerr(lit.pos, "column %s is boolean, compare it with 1, 0, 'true' or 'false'", p.Name)
		}
		return func(row qrow) tri {
			v, ok := lc.get(row)
			if !ok {
				return triUnknown
			}
			b, _ := v.(bool)
			return cmpResult(op, cmp.Compare(boolInt(b), boolInt(want)))
		}, nil
	case p.Kind == kindEnum:
		ord := -1
		if lit.kind == litNumber {
			n, err := strconv.Atoi(lit.text)
			if err != nil || n < 0 || n >= len(p.Enum) {
				return nil, qerr(lit.pos, "column %s: %s is not an ordinal of %s", p.Name, lit.text, strings.Join(p.Enum, ", "))
			}
			ord = n
		} else {
			ord = slices.IndexFunc(p.Enum, func(e string) bool { return strings.EqualFold(e, lit.text) })
		}
		want := strings.ToLower(lit.text)
		return func(row qrow) tri {
			v, ok := lc.get(row)
			if !ok {
				return triUnknown
			}
			s, _ := v.(string)
			if ord >= 0 {
				return cmpResult(op, cmp.Compare(slices.Index(p.Enum, s), ord))
			}
			return cmpResult(op, strings.Compare(strings.ToLower(s), want))
		}, nil
	default:
		want := lit.text
		lower := strings.ToLower(want)
		return func(row qrow) tri {
			v, ok := lc.get(row)
			if !ok {
				return triUnknown
			}
			s := valueText(v)
			if op == "=" || op == "!=" {
				return cmpResult(op, boolCmp(strings.EqualFold(s, want)))
			}
			return cmpResult(op, strings.Compare(strings.ToLower(s), lower))
		}, nil
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// boolCmp maps equal to 0 and different to 1, for = and != only.
func boolCmp(equal bool) int {
	if equal {
		return 0
	}
	return 1
}

// compareValues orders two non-null values of two columns.
func compareValues(pa *genProp, a any, pb *genProp, b any) int {
	if numeric(pa.Kind) && numeric(pb.Kind) {
		fa, _ := toFloat(a)
		fb, _ := toFloat(b)
		return cmp.Compare(fa, fb)
	}
	if pa.Kind == kindDateTime && pb.Kind == kindDateTime {
		return strings.Compare(a.(string), b.(string))
	}
	sa, sb := valueText(a), valueText(b)
	if strings.EqualFold(sa, sb) {
		return 0
	}
	return strings.Compare(strings.ToLower(sa), strings.ToLower(sb))
}

// joinKey renders a value so that equal values (by the = rules) get equal keys.
func joinKey(p *genProp, v any) string {
	if numeric(p.Kind) {
		f, _ := toFloat(v)
		return "n" + strconv.FormatFloat(f, 'g', -1, 64)
	}
	return "s" + strings.ToLower(valueText(v))
}

// maxNestedJoin bounds the work of a JOIN whose ON is not a simple
// equality between the two tables.
const maxNestedJoin = 5_000_000

// execLocked evaluates the query over the store; caller holds s.mu (read).
func (s *Server) execLocked(q *compiledQuery) ([]qrow, error) {
	ta := s.tables[q.from.Name]
	var rows []qrow
	keep := func(r qrow) bool { return q.where == nil || q.where(r) == triTrue }
	if q.join == nil {
		for _, id := range ta.ids {
			r := qrow{a: ta.recs[id]}
			if keep(r) {
				rows = append(rows, r)
			}
		}
		return rows, nil
	}
	tb := s.tables[q.join.Name]
	var index map[string][]record
	if q.hashOn != nil {
		index = map[string][]record{}
		pc := q.hashOn[1]
		for _, id := range tb.ids {
			rec := tb.recs[id]
			if v, ok := rec[pc.prop.Name]; ok && v != nil {
				k := joinKey(pc.prop, v)
				index[k] = append(index[k], rec)
			}
		}
	} else if len(ta.ids)*len(tb.ids) > maxNestedJoin {
		return nil, badRequest("Invalid query: the JOIN condition must compare a column of each table with = for tables this large.")
	}
	var all []record
	if index == nil {
		all = tb.records(0, len(tb.ids))
	}
	for _, id := range ta.ids {
		a := ta.recs[id]
		cands := all
		if index != nil {
			cands = nil
			pc := q.hashOn[0]
			if v, ok := a[pc.prop.Name]; ok && v != nil {
				cands = index[joinKey(pc.prop, v)]
			}
		}
		matched := false
		for _, b := range cands {
			r := qrow{a: a, b: b}
			if q.on(r) != triTrue {
				continue
			}
			matched = true
			if keep(r) {
				rows = append(rows, r)
			}
		}
		if !matched && q.leftJoin {
			r := qrow{a: a}
			if keep(r) {
				rows = append(rows, r)
			}
		}
	}
	return rows, nil
}

// sortKey is one ORDER BY value of a row, precomputed.
type sortKey struct {
	null bool
	f    float64
	s    string
}

// sortRows orders rows by the ORDER BY columns; NULL sorts first ascending
// and last descending; ties keep the id order (FROM id, then joined id).
// It returns the [lo, hi) ranges of the sorted rows whose keys tie (two
// rows or more), which UnorderedPages shuffles.
func sortRows(q *compiledQuery, rows []qrow) [][2]int {
	if len(q.orderBy) == 0 {
		return nil
	}
	n := len(q.orderBy)
	keys := make([]sortKey, len(rows)*n)
	for i, r := range rows {
		for j, col := range q.orderBy {
			v, ok := col.get(r)
			k := &keys[i*n+j]
			switch {
			case !ok:
				k.null = true
			case numeric(col.prop.Kind):
				k.f, _ = toFloat(v)
			case col.prop.Kind == kindBool:
				b, _ := v.(bool)
				k.f = float64(boolInt(b))
			case col.prop.Kind == kindEnum:
				k.f = float64(slices.Index(col.prop.Enum, v.(string)))
			case col.prop.Kind == kindDateTime:
				k.s = v.(string)
			default:
				k.s = strings.ToLower(valueText(v))
			}
		}
	}
	idx := make([]int, len(rows))
	for i := range idx {
		idx[i] = i
	}
	cmpKeys := func(x, y int) int {
		for j := range n {
			a, b := keys[x*n+j], keys[y*n+j]
			var c int
			switch {
			case a.null && b.null:
				c = 0
			case a.null:
				c = -1
			case b.null:
				c = 1
			default:
				c = cmp.Compare(a.f, b.f)
				if c == 0 {
					c = strings.Compare(a.s, b.s)
				}
			}
			if q.desc[j] {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		return 0
	}
	slices.SortStableFunc(idx, func(x, y int) int {
		if c := cmpKeys(x, y); c != 0 {
			return c
		}
		return cmp.Compare(x, y)
	})
	sorted := make([]qrow, len(rows))
	for i, j := range idx {
		sorted[i] = rows[j]
	}
	copy(rows, sorted)
	var ties [][2]int
	for lo := 0; lo < len(idx); {
		hi := lo + 1
		for hi < len(idx) && cmpKeys(idx[lo], idx[hi]) == 0 {
			hi++
		}
		if hi-lo > 1 {
			ties = append(ties, [2]int{lo, hi})
		}
		lo = hi
	}
	return ties
}

// queryResult is the sorted rows of a script and, with ORDER BY, the
// ranges of rows whose sort keys tie.
type queryResult struct {
	rows    []qrow
	ordered bool
	ties    [][2]int
}

// unordered returns a copy of the rows in a fresh random order: all of
// them without ORDER BY, within each tie range otherwise. Only rows before
// position hi (the end of the page asked for) are settled.
func (s *Server) unordered(res *queryResult, hi int) []qrow {
	rows := slices.Clone(res.rows)
	if !res.ordered {
		s.faults.shuffle(len(rows), hi, func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })
		return rows
	}
	for _, t := range res.ties {
		if t[0] >= hi {
			break
		}
		part := rows[t[0]:t[1]]
		s.faults.shuffle(len(part), len(part), func(i, j int) { part[i], part[j] = part[j], part[i] })
	}
	return rows
}

// queryCache keeps the sorted rows of recent scripts while the store is
// unchanged, so paging through a large result does not re-run the query.
type queryCache struct {
	mu      sync.Mutex
	max     int
	entries []cacheEntry // most recent last
}

type cacheEntry struct {
	script  string
	version uint64
	res     *queryResult
}

func newQueryCache(max int) *queryCache { return &queryCache{max: max} }

func (c *queryCache) get(script string, version uint64) (*queryResult, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, e := range c.entries {
		if e.script == script && e.version == version {
			c.entries = append(append(c.entries[:i:i], c.entries[i+1:]...), e)
			return e.res, true
		}
	}
	return nil, false
}

func (c *queryCache) put(script string, version uint64, res *queryResult) {
	c.mu.Lock()
	defer c.mu.Unlock()
	kept := c.entries[:0]
	for _, e := range c.entries {
		if e.version == version && e.script != script {
			kept = append(kept, e)
		}
	}
	c.entries = append(kept, cacheEntry{script: script, version: version, res: res})
	if len(c.entries) > c.max {
		c.entries = c.entries[len(c.entries)-c.max:]
	}
}

// runQuery parses, executes and sorts a script (cached per store version),
// reading date-time literals without an offset in zone.
func (s *Server) runQuery(script string, zone *time.Location) (*queryResult, *compiledQuery, error) {
	ast, err := parseQuery(script)
	if err != nil {
		return nil, nil, badRequest("Invalid query: %v", err)
	}
	q, err := compileQueryIn(ast, zone)
	if err != nil {
		return nil, nil, badRequest("Invalid query: %v", err)
	}
	key := script
	if zone != time.UTC {
		key = zone.String() + "\x00" + script // literals mean other instants
	}
	s.mu.RLock()
	version := s.version
	if res, ok := s.queries.get(key, version); ok {
		s.mu.RUnlock()
		return res, q, nil
	}
	rows, err := s.execLocked(q)
	s.mu.RUnlock()
	if err != nil {
		return nil, nil, err
	}
	res := &queryResult{rows: rows, ordered: len(q.orderBy) > 0}
	res.ties = sortRows(q, rows)
	s.queries.put(key, version, res)
	return res, q, nil
}

// handleQuery answers GET /Queries?script=&Page=&Size= with a JSON array of
// flat rows: the selected columns under their DTO names plus RowNumber (the
// 1-based position in the whole result). SELECT * leaves out NULL columns;
// named columns are always present (null when unset). bh may reorder the
// rows (UnorderedPages), mask credentials and restyle date-times.
func (s *Server) handleQuery(w http.ResponseWriter, r *http.Request, bh *behaviour) {
	script, ok := queryParam(r, "script")
	if !ok || strings.TrimSpace(script) == "" {
		writeError(w, badRequest("The query parameter script is required."))
		return
	}
	s.stats.query(script)
	page, size, err := paging(r)
	if err != nil {
		writeError(w, err)
		return
	}
	zone := time.UTC
	if bh != nil {
		zone = bh.times.inputZone()
	}
	res, q, err := s.runQuery(script, zone)
	if err != nil {
		writeError(w, err)
		return
	}
	rows := res.rows
	lo, hi := pageBounds(len(rows), page, size)
	if bh != nil && bh.unordered {
		rows = s.unordered(res, hi)
	}
	out := bh.view()
	buf := getBuf()
	defer putBuf(buf)
	b := append(*buf, '[')
	for i, row := range rows[lo:hi] {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"RowNumber":`...)
		b = strconv.AppendInt(b, int64(lo+i+1), 10)
		if q.cols == nil {
			b = appendFields(b, q.from.read, row.a, out)
			if q.join != nil && row.b != nil {
				b = appendFields(b, q.join.read, row.b, out)
			}
		} else {
			for _, col := range q.cols {
				b = append(b, ',')
				b = appendString(b, col.prop.Name)
				b = append(b, ':')
				v, _ := col.get(row)
				b = appendValue(b, out.value(col.prop, v))
			}
		}
		b = append(b, '}')
	}
	b = append(b, ']')
	*buf = b
	writeRaw(w, http.StatusOK, b)
}

// appendFields writes ,"Name":value for each set property (no braces),
// rendered through out (nil: as stored).
func appendFields(b []byte, props []*genProp, rec record, out *outView) []byte {
	for _, p := range props {
		v, ok := rec[p.Name]
		if !ok || v == nil {
			continue
		}
		b = append(b, ',')
		b = appendString(b, p.Name)
		b = append(b, ':')
		b = appendValue(b, out.value(p, v))
	}
	return b
}
