package webcrmsim

import (
	"fmt"
	"strings"
	"unicode"
)

// The /Queries dialect is a small SQL subset:
//
//	SELECT * | col [, col ...]
//	FROM <table> [[AS] alias]
//	[[INNER | LEFT [OUTER]] JOIN <table> [[AS] alias] ON <condition>]
//	[WHERE <condition>]
//	[ORDER BY col [ASC|DESC] [, ...]]
//
// Conditions combine comparisons (=, !=, <>, <, <=, >, >=), IS [NOT] NULL,
// [NOT] IN (...), [NOT] LIKE 'pattern' with AND, OR, NOT and parentheses.
// Operands are columns (optionally qualified by table or alias), string
// literals in single quotes ('' escapes a quote), numbers and NULL.
// Identifiers may be written in [brackets]. Keywords are case-insensitive.

type tokKind int

const (
	tokEOF tokKind = iota
	tokIdent
	tokString
	tokNumber
	tokSym
)

type token struct {
	kind   tokKind
	text   string
	pos    int  // byte offset in the script
	quoted bool // identifier written in [brackets]
}

func (t token) String() string {
	switch t.kind {
	case tokEOF:
		return "end of script"
	case tokString:
		return "'" + strings.ReplaceAll(t.text, "'", "''") + "'"
	}
	return t.text
}

// queryError is a syntax or semantic error in a script.
type queryError struct {
	pos int
	msg string
}

func (e *queryError) Error() string {
	if e.pos >= 0 {
		return fmt.Sprintf("%s (at position %d)", e.msg, e.pos+1)
	}
	return e.msg
}

func qerr(pos int, format string, args ...any) error {
	return &queryError{pos: pos, msg: fmt.Sprintf(format, args...)}
}

func isIdentStart(r rune) bool { return r == '_' || unicode.IsLetter(r) }
func isIdentPart(r rune) bool  { return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) }

// tokenize splits a script into tokens.
func tokenize(src string) ([]token, error) {
	var toks []token
	rs := []rune(src)
	// byte offsets for error positions
	offs := make([]int, len(rs)+1)
	o := 0
	for i, r := range rs {
		offs[i] = o
		o += len(string(r))
	}
	offs[len(rs)] = o
	for i := 0; i < len(rs); {
		r := rs[i]
		switch {
		case unicode.IsSpace(r):
			i++
		case isIdentStart(r):
			j := i + 1
			for j < len(rs) && isIdentPart(rs[j]) {
				j++
			}
			toks = append(toks, token{kind: tokIdent, text: string(rs[i:j]), pos: offs[i]})
			i = j
		case r == '[':
			j := i + 1
			for j < len(rs) && rs[j] != ']' {
				j++
			}
			if j >= len(rs) {
				return nil, qerr(offs[i], "unterminated [identifier]")
			}
			if j == i+1 {
				return nil, qerr(offs[i], "empty [identifier]")
			}
			toks = append(toks, token{kind: tokIdent, text: string(rs[i+1 : j]), pos: offs[i], quoted: true})
			i = j + 1
		case unicode.IsDigit(r):
			j := i
			for j < len(rs) && unicode.IsDigit(rs[j]) {
				j++
			}
			if j < len(rs) && rs[j] == '.' {
				j++
				for j < len(rs) && unicode.IsDigit(rs[j]) {
					j++
				}
			}
			if j < len(rs) && isIdentStart(rs[j]) {
				return nil, qerr(offs[j], "unexpected character %q after number", rs[j])
			}
			toks = append(toks, token{kind: tokNumber, text: string(rs[i:j]), pos: offs[i]})
			i = j
		case r == '\'':
			var sb strings.Builder
			j := i + 1
			closed := false
			for j < len(rs) {
				if rs[j] == '\'' {
					if j+1 < len(rs) && rs[j+1] == '\'' {
						sb.WriteRune('\'')
						j += 2
						continue
					}
					closed = true
					j++
					break
				}
				sb.WriteRune(rs[j])
				j++
			}
			if !closed {
				return nil, qerr(offs[i], "unterminated string literal")
			}
			toks = append(toks, token{kind: tokString, text: sb.String(), pos: offs[i]})
			i = j
		default:
			two := ""
			if i+1 < len(rs) {
				two = string(rs[i : i+2])
			}
			switch two {
			case "<=", ">=", "<>", "!=":
				toks = append(toks, token{kind: tokSym, text: two, pos: offs[i]})
				i += 2
				continue
			}
			switch r {
			case '(', ')', ',', '*', '.', '=', '<', '>', ';', '-':
				toks = append(toks, token{kind: tokSym, text: string(r), pos: offs[i]})
				i++
			default:
				return nil, qerr(offs[i], "unexpected character %q", r)
			}
		}
	}
	toks = append(toks, token{kind: tokEOF, pos: len(src)})
	return toks, nil
}

var reserved = map[string]bool{
	"SELECT": true, "FROM": true, "WHERE": true, "JOIN": true, "INNER": true, "LEFT": true, "OUTER": true,
	"ON": true, "AND": true, "OR": true, "NOT": true, "ORDER": true, "BY": true, "ASC": true, "DESC": true,
	"IS": true, "NULL": true, "IN": true, "LIKE": true, "AS": true,
	// Not supported, but reserved so that they are not taken for aliases.
	"LIMIT": true, "TOP": true, "OFFSET": true, "FETCH": true, "GROUP": true, "HAVING": true,
	"UNION": true, "CROSS": true, "RIGHT": true, "FULL": true, "DISTINCT": true,
}

// AST

type colExpr struct {
	qual, name string
	pos        int
}

func (c colExpr) String() string {
	if c.qual != "" {
		return c.qual + "." + c.name
	}
	return c.name
}

type litKind int

const (
	litString litKind = iota
	litNumber
	litNull
)

type literal struct {
	kind litKind
	text string
	pos  int
}

// operand is a column or a literal.
type operand struct {
	col *colExpr
	lit *literal
}

func (o operand) pos() int {
	if o.col != nil {
		return o.col.pos
	}
	return o.lit.pos
}

type cond interface{ isCond() }

type andCond struct{ l, r cond }
type orCond struct{ l, r cond }
type notCond struct{ x cond }
type cmpCond struct {
	op   string // = != < <= > >=
	l, r operand
}
type isNullCond struct {
	x   operand
	not bool
}
type inCond struct {
	x    operand
	list []operand
	not  bool
}
type likeCond struct {
	x       operand
	pattern literal
	not     bool
}

func (andCond) isCond()    {}
func (orCond) isCond()     {}
func (notCond) isCond()    {}
func (cmpCond) isCond()    {}
func (isNullCond) isCond() {}
func (inCond) isCond()     {}
func (likeCond) isCond()   {}

type tableExpr struct {
	name, alias string
	pos         int
}

type joinExpr struct {
	table tableExpr
	left  bool
	on    cond
}

type orderExpr struct {
	col  colExpr
	desc bool
}

type queryAST struct {
	cols    []colExpr // nil means *
	from    tableExpr
	join    *joinExpr
	where   cond
	orderBy []orderExpr
}

type parser struct {
	toks []token
	i    int
}

// parseQuery parses a /Queries script.
func parseQuery(src string) (*queryAST, error) {
	toks, err := tokenize(src)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	return p.query()
}

func (p *parser) peek() token { return p.toks[p.i] }

// isKw reports whether the current token is the keyword kw.
func (p *parser) isKw(kw string) bool {
	t := p.peek()
	return t.kind == tokIdent && !t.quoted && strings.EqualFold(t.text, kw)
}

func (p *parser) acceptKw(kw string) bool {
	if p.isKw(kw) {
		p.i++
		return true
	}
	return false
}

func (p *parser) expectKw(kw string) error {
	if !p.acceptKw(kw) {
		t := p.peek()
		return qerr(t.pos, "expected %s, found %s", kw, t)
	}
	return nil
}

func (p *parser) isSym(s string) bool {
	t := p.peek()
	return t.kind == tokSym && t.text == s
}

func (p *parser) acceptSym(s string) bool {
	if p.isSym(s) {
		p.i++
		return true
	}
	return false
}

func (p *parser) expectSym(s string) error {
	if !p.acceptSym(s) {
		t := p.peek()
		return qerr(t.pos, "expected %q, found %s", s, t)
	}
	return nil
}

// ident reads a non-reserved identifier.
func (p *parser) ident(what string) (token, error) {
	t := p.peek()
	if t.kind != tokIdent || (!t.quoted && reserved[strings.ToUpper(t.text)]) {
		return t, qerr(t.pos, "expected %s, found %s", what, t)
	}
	p.i++
	return t, nil
}

func (p *parser) query() (*queryAST, error) {
	q := &queryAST{}
	if err := p.expectKw("SELECT"); err != nil {
		return nil, err
	}
	if !p.acceptSym("*") {
		for {
			c, err := p.column()
			if err != nil {
				return nil, err
			}
			q.cols = append(q.cols, c)
			if !p.acceptSym(",") {
				break
			}
		}
	}
	if err := p.expectKw("FROM"); err != nil {
		return nil, err
	}
	from, err := p.table()
	if err != nil {
		return nil, err
	}
	q.from = from
	left := false
	switch {
	case p.acceptKw("INNER"):
		if err := p.expectKw("JOIN"); err != nil {
			return nil, err
		}
		q.join = &joinExpr{}
	case p.acceptKw("LEFT"):
		p.acceptKw("OUTER")
		if err := p.expectKw("JOIN"); err != nil {
			return nil, err
		}
		left = true
		q.join = &joinExpr{}
	case p.acceptKw("JOIN"):
		q.join = &joinExpr{}
	}
	if q.join != nil {
		q.join.left = left
		if q.join.table, err = p.table(); err != nil {
			return nil, err
		}
		if err := p.expectKw("ON"); err != nil {
			return nil, err
		}
		if q.join.on, err = p.orCond(); err != nil {
			return nil, err
		}
	}
	if p.acceptKw("WHERE") {
		if q.where, err = p.orCond(); err != nil {
			return nil, err
		}
	}
	if p.acceptKw("ORDER") {
		if err := p.expectKw("BY"); err != nil {
			return nil, err
		}
		for {
			c, err := p.column()
			if err != nil {
				return nil, err
			}
			o := orderExpr{col: c}
			if p.acceptKw("DESC") {
				o.desc = true
			} else {
				p.acceptKw("ASC")
			}
			q.orderBy = append(q.orderBy, o)
			if !p.acceptSym(",") {
				break
			}
		}
	}
	p.acceptSym(";")
	if t := p.peek(); t.kind != tokEOF {
		return nil, qerr(t.pos, "unexpected %s", t)
	}
	return q, nil
}

func (p *parser) table() (tableExpr, error) {
	t, err := p.ident("a table name")
	if err != nil {
		return tableExpr{}, err
	}
	te := tableExpr{name: t.text, pos: t.pos}
	if p.acceptKw("AS") {
		a, err := p.ident("an alias")
		if err != nil {
			return tableExpr{}, err
		}
		te.alias = a.text
	} else if t := p.peek(); t.kind == tokIdent && (t.quoted || !reserved[strings.ToUpper(t.text)]) {
		p.i++
		te.alias = t.text
	}
	return te, nil
}

func (p *parser) column() (colExpr, error) {
	t, err := p.ident("a column name")
	if err != nil {
		return colExpr{}, err
	}
	c := colExpr{name: t.text, pos: t.pos}
	if p.acceptSym(".") {
		n, err := p.ident("a column name")
		if err != nil {
			return colExpr{}, err
		}
		c.qual, c.name = t.text, n.text
	}
	return c, nil
}

func (p *parser) orCond() (cond, error) {
	l, err := p.andCond()
	if err != nil {
		return nil, err
	}
	for p.acceptKw("OR") {
		r, err := p.andCond()
		if err != nil {
			return nil, err
		}
		l = orCond{l, r}
	}
	return l, nil
}

func (p *parser) andCond() (cond, error) {
	l, err := p.notCond()
	if err != nil {
		return nil, err
	}
	for p.acceptKw("AND") {
		r, err := p.notCond()
		if err != nil {
			return nil, err
		}
		l = andCond{l, r}
	}
	return l, nil
}

func (p *parser) notCond() (cond, error) {
	if p.acceptKw("NOT") {
		x, err := p.notCond()
		if err != nil {
			return nil, err
		}
		return notCond{x}, nil
	}
	if p.acceptSym("(") {
		c, err := p.orCond()
		if err != nil {
			return nil, err
		}
		if err := p.expectSym(")"); err != nil {
			return nil, err
		}
		return c, nil
	}
	return p.predicate()
}

func (p *parser) operand() (operand, error) {
	t := p.peek()
	switch {
	case t.kind == tokString:
		p.i++
		return operand{lit: &literal{kind: litString, text: t.text, pos: t.pos}}, nil
	case t.kind == tokNumber:
		p.i++
		return operand{lit: &literal{kind: litNumber, text: t.text, pos: t.pos}}, nil
	case t.kind == tokSym && t.text == "-":
		p.i++
		n := p.peek()
		if n.kind != tokNumber {
			return operand{}, qerr(n.pos, "expected a number after '-', found %s", n)
		}
		p.i++
		return operand{lit: &literal{kind: litNumber, text: "-" + n.text, pos: t.pos}}, nil
	case p.isKw("NULL"):
		p.i++
		return operand{lit: &literal{kind: litNull, text: "NULL", pos: t.pos}}, nil
	case t.kind == tokIdent:
		c, err := p.column()
		if err != nil {
			return operand{}, err
		}
		return operand{col: &c}, nil
	}
	return operand{}, qerr(t.pos, "expected a column, string or number, found %s", t)
}

func (p *parser) predicate() (cond, error) {
	l, err := p.operand()
	if err != nil {
		return nil, err
	}
	t := p.peek()
	if t.kind == tokSym {
		switch t.text {
		case "=", "!=", "<>", "<", "<=", ">", ">=":
			p.i++
			r, err := p.operand()
			if err != nil {
				return nil, err
			}
			op := t.text
			if op == "<>" {
				op = "!="
			}
			return cmpCond{op: op, l: l, r: r}, nil
		}
	}
	if p.acceptKw("IS") {
		not := p.acceptKw("NOT")
		if err := p.expectKw("NULL"); err != nil {
			return nil, err
		}
		return isNullCond{x: l, not: not}, nil
	}
	not := p.acceptKw("NOT")
	switch {
	case p.acceptKw("IN"):
		if err := p.expectSym("("); err != nil {
			return nil, err
		}
		var list []operand
		for {
			o, err := p.operand()
			if err != nil {
				return nil, err
			}
			if o.col != nil {
				return nil, qerr(o.pos(), "IN lists take literals only")
			}
			list = append(list, o)
			if !p.acceptSym(",") {
				break
			}
		}
		if err := p.expectSym(")"); err != nil {
			return nil, err
		}
		return inCond{x: l, list: list, not: not}, nil
	case p.acceptKw("LIKE"):
		pt := p.peek()
		if pt.kind != tokString {
			return nil, qerr(pt.pos, "LIKE needs a string pattern, found %s", pt)
		}
		p.i++
		return likeCond{x: l, pattern: literal{kind: litString, text: pt.text, pos: pt.pos}, not: not}, nil
	}
	nt := p.peek()
	return nil, qerr(nt.pos, "expected a comparison operator, IS, IN or LIKE after %s, found %s", describeOperand(l), nt)
}

func describeOperand(o operand) string {
	if o.col != nil {
		return o.col.String()
	}
	return o.lit.text
}
