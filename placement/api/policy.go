package api

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/novakit/novakit/identity"
)

// Target is the object of a checked action, as oslo.policy's target dict:
// the project (and user) the request is about. Only GET /usages sets it
// (project_id and user_id from the query), as Placement does.
type Target struct {
	ProjectID string
	UserID    string
}

// Env is what a Rule sees: the caller's credentials, the target, and the
// rest of the policy so that a rule may refer to another by name.
type Env struct {
	Creds  *identity.Credentials
	Target Target
	rules  map[string]Rule
	depth  int
}

// Rule evaluates a rule of the policy by name (oslo.policy's
// "rule:NAME"); an unknown name is false, as is a reference cycle.
func (e Env) Rule(name string) bool {
	r := e.rules[name]
	if r == nil || e.depth > 32 {
		return false
	}
	e.depth++
	return r(e)
}

// Rule is one policy check: it reports whether the caller may proceed. It
// must be safe for concurrent use and must not retain e.
type Rule func(e Env) bool

// RoleRule allows callers having role (oslo.policy's "role:ROLE").
func RoleRule(role string) Rule { return func(e Env) bool { return e.Creds.HasRole(role) } }

// AllowAll allows every authenticated caller (oslo.policy's "@").
func AllowAll(Env) bool { return true }

// denyAll is oslo.policy's "!".
func denyAll(Env) bool { return false }

// ParsePolicy compiles oslo.policy check strings by rule name (the
// content of a policy.yaml), for Options.Policy. Errors name the rule.
func ParsePolicy(checks map[string]string) (map[string]Rule, error) {
	out := make(map[string]Rule, len(checks))
	for name, s := range checks {
		r, err := ParseRule(s)
		if err != nil {
			return nil, fmt.Errorf("policy rule %q: %w", name, err)
		}
		out[name] = r
	}
	return out, nil
}

// LoadPolicyFile reads an oslo.policy file (YAML, or JSON which is YAML)
// mapping rule names to check strings and compiles it with ParsePolicy.
// Errors name the file and the rule.
func LoadPolicyFile(path string) (map[string]Rule, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("policy file: %w", err)
	}
	var checks map[string]string
	if err := yaml.Unmarshal(b, &checks); err != nil {
		return nil, fmt.Errorf("policy file %s: want a mapping of rule names to check strings: %w", path, err)
	}
	rules, err := ParsePolicy(checks)
	if err != nil {
		return nil, fmt.Errorf("policy file %s: %w", path, err)
	}
	return rules, nil
}

// ParseRule compiles one oslo.policy check string: "@" (always), "!"
// (never), "" (always, as oslo.policy), "role:R", "rule:NAME",
// "is_admin:True", "CREDENTIAL:%(TARGET)s" and "CREDENTIAL:literal" (the
// credentials user_id, project_id, domain_id, system_scope,
// user_domain_id, project_domain_id; the targets project_id and user_id),
// combined with not, and, or (in that precedence) and parentheses.
// Errors say what is wrong where.
func ParseRule(s string) (Rule, error) {
	p := &ruleParser{toks: tokenize(s)}
	if len(p.toks) == 0 {
		return AllowAll, nil
	}
	r, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.pos < len(p.toks) {
		return nil, fmt.Errorf("unexpected %q at token %d of %q", p.toks[p.pos], p.pos+1, s)
	}
	return r, nil
}

// tokenize splits on white space and peels parentheses off the ends of
// each word, as oslo.policy does (so "%(project_id)s" stays whole).
func tokenize(s string) []string {
	var toks []string
	for _, w := range strings.Fields(s) {
		for strings.HasPrefix(w, "(") {
			toks = append(toks, "(")
			w = w[1:]
		}
		n := 0
		for strings.HasSuffix(w, ")") && !strings.HasSuffix(w, ")s") {
			w = w[:len(w)-1]
			n++
		}
		if w != "" {
			toks = append(toks, w)
		}
		for ; n > 0; n-- {
			toks = append(toks, ")")
		}
	}
	return toks
}

type ruleParser struct {
	toks []string
	pos  int
}

func (p *ruleParser) peek() string {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	return ""
}

func (p *ruleParser) or() (Rule, error) {
	l, err := p.and()
	if err != nil {
		return nil, err
	}
	for strings.EqualFold(p.peek(), "or") {
		p.pos++
		r, err := p.and()
		if err != nil {
			return nil, err
		}
		a, b := l, r
		l = func(e Env) bool { return a(e) || b(e) }
	}
	return l, nil
}

func (p *ruleParser) and() (Rule, error) {
	l, err := p.not()
	if err != nil {
		return nil, err
	}
	for strings.EqualFold(p.peek(), "and") {
		p.pos++
		r, err := p.not()
		if err != nil {
			return nil, err
		}
		a, b := l, r
		l = func(e Env) bool { return a(e) && b(e) }
	}
	return l, nil
}

func (p *ruleParser) not() (Rule, error) {
	if strings.EqualFold(p.peek(), "not") {
		p.pos++
		r, err := p.not()
		if err != nil {
			return nil, err
		}
		return func(e Env) bool { return !r(e) }, nil
	}
	return p.atom()
}

func (p *ruleParser) atom() (Rule, error) {
	t := p.peek()
	switch {
	case t == "":
		return nil, errors.New("unexpected end of rule")
	case t == "(":
		p.pos++
		r, err := p.or()
		if err != nil {
			return nil, err
		}
		if p.peek() != ")" {
			return nil, fmt.Errorf("missing ')' at token %d", p.pos+1)
		}
		p.pos++
		return r, nil
	case t == ")" || strings.EqualFold(t, "and") || strings.EqualFold(t, "or"):
		return nil, fmt.Errorf("unexpected %q at token %d", t, p.pos+1)
	}
	p.pos++
	return check(t)
}

// credField reads a credential attribute by its oslo.context name.
func credField(name string) (func(c *identity.Credentials) string, bool) {
	switch name {
	case "user_id":
		return func(c *identity.Credentials) string { return c.UserID }, true
	case "project_id", "tenant", "tenant_id":
		return func(c *identity.Credentials) string { return c.ProjectID }, true
	case "domain_id":
		return func(c *identity.Credentials) string { return c.DomainID }, true
	case "system_scope":
		return func(c *identity.Credentials) string { return c.SystemScope }, true
	case "user_domain_id":
		return func(c *identity.Credentials) string { return c.UserDomainID }, true
	case "project_domain_id":
		return func(c *identity.Credentials) string { return c.ProjectDomainID }, true
	}
	return nil, false
}

func check(t string) (Rule, error) {
	switch t {
	case "@":
		return AllowAll, nil
	case "!":
		return denyAll, nil
	}
	kind, val, ok := strings.Cut(t, ":")
	if !ok || kind == "" {
		return nil, fmt.Errorf("check %q: want KIND:VALUE, @ or !", t)
	}
	val = strings.Trim(val, `'"`)
	switch kind {
	case "role":
		if val == "" {
			return nil, fmt.Errorf("check %q: empty role", t)
		}
		return RoleRule(val), nil
	case "rule":
		return func(e Env) bool { return e.Rule(val) }, nil
	case "is_admin":
		want := strings.EqualFold(val, "true")
		return func(e Env) bool { return e.Creds.IsAdmin() == want }, nil
	}
	get, ok := credField(kind)
	if !ok {
		return nil, fmt.Errorf("check %q: unknown credential %q", t, kind)
	}
	if strings.HasPrefix(val, "%(") && strings.HasSuffix(val, ")s") {
		switch val[2 : len(val)-2] {
		case "project_id":
			return func(e Env) bool { return e.Creds != nil && get(e.Creds) != "" && get(e.Creds) == e.Target.ProjectID }, nil
		case "user_id":
			return func(e Env) bool { return e.Creds != nil && get(e.Creds) != "" && get(e.Creds) == e.Target.UserID }, nil
		}
		return nil, fmt.Errorf("check %q: unknown target %q (project_id and user_id are known)", t, val)
	}
	return func(e Env) bool { return e.Creds != nil && get(e.Creds) == val }, nil
}

// tokenScope names the scope of a token: "system", "domain" or "project".
func tokenScope(c *identity.Credentials) string {
	switch {
	case c.SystemScope != "":
		return "system"
	case c.ProjectID == "" && c.DomainID != "":
		return "domain"
	}
	return "project"
}

// authorize applies rule name with target t and answers 403 with
// Placement's body on refusal. Under PolicySecureRBAC the token must also
// be project-scoped (every Placement rule has scope_types=['project']).
func (rq *request) authorize(name string, t Target) error {
	if rq.s.enforceScope && tokenScope(rq.creds) != "project" {
		return errorf(http.StatusForbidden, "Policy does not allow %s to be performed: a %s-scoped token is not accepted, use a project-scoped one.", name, tokenScope(rq.creds))
	}
	env := Env{Creds: rq.creds, Target: t, rules: rq.s.policy}
	r := rq.s.policy[name]
	if r == nil {
		r = rq.s.policy[RuleAdminAPI]
	}
	if r == nil || !r(env) {
		return errorf(http.StatusForbidden, "Policy does not allow %s to be performed.", name)
	}
	return nil
}
