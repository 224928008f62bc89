package policy

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrSyntax: a check string could not be parsed.
var ErrSyntax = errors.New("policy: invalid check string")

// Check is a parsed check string: a tree of checks joined by and, or and
// not. A Check is immutable and safe for concurrent use.
type Check interface {
	// String renders the check in canonical check-string syntax; parsing
	// it again gives an equal check.
	String() string
	eval(ev *evaluation) bool
}

type (
	trueCheck  struct{}
	falseCheck struct{}
	notCheck   struct{ c Check }
	andCheck   struct{ cs []Check }
	orCheck    struct{ cs []Check }
	ruleCheck  struct{ name string }
	roleCheck  struct{ match string }
	// genericCheck compares kind (a credential attribute, or a literal
	// when quoted, True, False or a number) with match (after target
	// substitution).
	genericCheck struct {
		kind, match string
		// value is the literal's value when literal is true.
		value   string
		literal bool
	}
)

func (trueCheck) String() string  { return "@" }
func (falseCheck) String() string { return "!" }
func (c notCheck) String() string { return "not " + c.c.String() }
func (c andCheck) String() string { return join(c.cs, " and ") }
func (c orCheck) String() string  { return join(c.cs, " or ") }
func (c ruleCheck) String() string {
	return "rule:" + c.name
}
func (c roleCheck) String() string    { return "role:" + c.match }
func (c genericCheck) String() string { return c.kind + ":" + c.match }

func join(cs []Check, sep string) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = c.String()
		if _, ok := c.(orCheck); ok {
			parts[i] = "(" + parts[i] + ")"
		} else if _, ok := c.(andCheck); ok && sep == " and " {
			parts[i] = "(" + parts[i] + ")"
		}
	}
	return "(" + strings.Join(parts, sep) + ")"
}

// Parse parses an oslo.policy check string:
//
//	""  or "@"                 always allowed
//	"!"                        never allowed
//	role:NAME                  the caller has role NAME (case-insensitive)
//	rule:NAME                  the rule NAME allows (an unknown rule denies)
//	is_admin:True              the caller is an admin
//	project_id:%(project_id)s  credential field equals the target's field
//	'literal':%(field)s        a literal (quoted, True, False or a number) equals the target's field
//	A and B, A or B, not A, ( … )
//
// Keywords are case-insensitive; not binds tighter than and, and tighter
// than or. An http: check (remote policy) is not supported. Errors wrap
// ErrSyntax and say what is wrong and where.
func Parse(s string) (Check, error) {
	toks := tokenize(s)
	if len(toks) == 0 {
		return trueCheck{}, nil
	}
	p := &parser{toks: toks}
	c, err := p.or()
	if err != nil {
		return nil, fmt.Errorf("%w %q: %w", ErrSyntax, s, err)
	}
	if p.pos < len(p.toks) {
		return nil, fmt.Errorf("%w %q: unexpected %q", ErrSyntax, s, p.toks[p.pos])
	}
	return c, nil
}

func tokenize(s string) []string {
	var out []string
	for _, f := range strings.Fields(s) {
		lead := 0
		for lead < len(f) && f[lead] == '(' {
			out = append(out, "(")
			lead++
		}
		f = f[lead:]
		trail := 0
		for len(f) > 0 && f[len(f)-1] == ')' {
			f = f[:len(f)-1]
			trail++
		}
		if f != "" {
			out = append(out, f)
		}
		for range trail {
			out = append(out, ")")
		}
	}
	return out
}

type parser struct {
	toks  []string
	pos   int
	depth int
}

const maxDepth = 100

func (p *parser) peek() string {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	return ""
}

func (p *parser) or() (Check, error) {
	c, err := p.and()
	if err != nil {
		return nil, err
	}
	cs := []Check{c}
	for strings.EqualFold(p.peek(), "or") {
		p.pos++
		c, err := p.and()
		if err != nil {
			return nil, err
		}
		cs = append(cs, c)
	}
	if len(cs) == 1 {
		return cs[0], nil
	}
	return orCheck{cs}, nil
}

func (p *parser) and() (Check, error) {
	c, err := p.not()
	if err != nil {
		return nil, err
	}
	cs := []Check{c}
	for strings.EqualFold(p.peek(), "and") {
		p.pos++
		c, err := p.not()
		if err != nil {
			return nil, err
		}
		cs = append(cs, c)
	}
	if len(cs) == 1 {
		return cs[0], nil
	}
	return andCheck{cs}, nil
}

func (p *parser) not() (Check, error) {
	if strings.EqualFold(p.peek(), "not") {
		p.pos++
		p.depth++
		defer func() { p.depth-- }()
		if p.depth > maxDepth {
			return nil, errors.New("nested too deeply")
		}
		c, err := p.not()
		if err != nil {
			return nil, err
		}
		return notCheck{c}, nil
	}
	return p.atom()
}

func (p *parser) atom() (Check, error) {
	tok := p.peek()
	switch {
	case tok == "":
		return nil, errors.New("unexpected end: a check is missing")
	case tok == "(":
		p.pos++
		p.depth++
		defer func() { p.depth-- }()
		if p.depth > maxDepth {
			return nil, errors.New("nested too deeply")
		}
		c, err := p.or()
		if err != nil {
			return nil, err
		}
		if p.peek() != ")" {
			return nil, fmt.Errorf("missing ) at token %d", p.pos+1)
		}
		p.pos++
		return c, nil
	case tok == ")":
		return nil, fmt.Errorf("unexpected ) at token %d", p.pos+1)
	case strings.EqualFold(tok, "and"), strings.EqualFold(tok, "or"):
		return nil, fmt.Errorf("%q at token %d needs a check before it", tok, p.pos+1)
	}
	p.pos++
	return parseCheck(tok)
}

func parseCheck(tok string) (Check, error) {
	switch tok {
	case "@":
		return trueCheck{}, nil
	case "!":
		return falseCheck{}, nil
	}
	kind, match, ok := strings.Cut(tok, ":")
	if !ok || kind == "" {
		return nil, fmt.Errorf("check %q is not kind:match", tok)
	}
	if err := checkFormat(match); err != nil {
		return nil, fmt.Errorf("check %q: %w", tok, err)
	}
	switch kind {
	case "rule":
		if match == "" {
			return nil, fmt.Errorf("check %q names no rule", tok)
		}
		return ruleCheck{match}, nil
	case "role":
		if match == "" {
			return nil, fmt.Errorf("check %q names no role", tok)
		}
		return roleCheck{match}, nil
	case "http", "https":
		return nil, fmt.Errorf("check %q: remote (http) checks are not supported", tok)
	}
	if lit, isLit := literal(kind); isLit {
		return genericCheck{kind: kind, value: lit, match: match, literal: true}, nil
	}
	if err := checkFormat(kind); err != nil || strings.Contains(kind, "%(") {
		return nil, fmt.Errorf("check %q: the credential field must be a plain name", tok)
	}
	return genericCheck{kind: kind, match: match}, nil
}

// literal reports whether kind is a Python literal as oslo.policy accepts
// on the left of a generic check, and its string value.
func literal(kind string) (string, bool) {
	if len(kind) >= 2 && (kind[0] == '\'' || kind[0] == '"') && kind[len(kind)-1] == kind[0] {
		return kind[1 : len(kind)-1], true
	}
	switch kind {
	case "True", "False", "None":
		return kind, true
	}
	if _, err := strconv.ParseFloat(kind, 64); err == nil {
		return kind, true
	}
	return "", false
}

// checkFormat verifies every % in s starts a %(name)s substitution or
// is an escaped %%.
func checkFormat(s string) error {
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			continue
		}
		if i+1 < len(s) && s[i+1] == '%' {
			i++
			continue
		}
		if i+1 >= len(s) || s[i+1] != '(' {
			return fmt.Errorf("bad %% at %d: only %%(name)s substitutions are allowed", i)
		}
		end := strings.Index(s[i:], ")s")
		if end < 0 {
			return fmt.Errorf("unterminated %%( at %d", i)
		}
		i += end + 1
	}
	return nil
}

// substitute expands %(name)s from target, as Python's % operator does
// for oslo.policy; ok is false when a name is missing from target.
func substitute(s string, target Target) (string, bool) {
	if !strings.Contains(s, "%") {
		return s, true
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 < len(s) && s[i+1] == '%' {
			b.WriteByte('%')
			i++
			continue
		}
		end := strings.Index(s[i:], ")s")
		if i+1 >= len(s) || s[i+1] != '(' || end < 0 {
			return "", false
		}
		v, ok := target[s[i+2:i+end]]
		if !ok {
			return "", false
		}
		b.WriteString(pyString(v))
		i += end + 1
	}
	return b.String(), true
}

// pyString renders v as Python's str() would for the values policy
// targets and credentials carry.
func pyString(v any) string {
	switch v := v.(type) {
	case nil:
		return "None"
	case string:
		return v
	case bool:
		if v {
			return "True"
		}
		return "False"
	case fmt.Stringer:
		return v.String()
	default:
		return fmt.Sprint(v)
	}
}
