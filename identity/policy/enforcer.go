package policy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"

	"github.com/novakit/novakit/identity"
)

var (
	// ErrForbidden: the policy does not allow the caller to perform the
	// action (HTTP 403). Returned errors are *Error values.
	ErrForbidden = errors.New("policy: forbidden")
	// ErrUnregistered: Enforce was asked about a rule nobody registered
	// (a programming error; oslo.policy's PolicyNotRegistered).
	ErrUnregistered = errors.New("policy: rule not registered")
)

// Scope types a rule may accept, matching the token's scope.
const (
	ScopeSystem  = "system"
	ScopeDomain  = "domain"
	ScopeProject = "project"
)

// Rule is a policy rule as a service registers it: its name
// ("os_compute_api:servers:create"), its default check string, a
// description, and the token scopes it accepts (empty: any).
type Rule struct {
	Name        string
	Check       string
	Description string
	ScopeTypes  []string
}

// Error says which rule denied the caller. It satisfies
// errors.Is(err, ErrForbidden).
type Error struct {
	Rule string
	// Scope is set when the rule was denied because the token's scope is
	// not one of the rule's scope types (oslo.policy's InvalidScope).
	Scope string
}

// Error says which rule denied the caller, in Nova's words.
func (e *Error) Error() string {
	if e.Scope != "" {
		return fmt.Sprintf("Policy %s does not allow a %s-scoped token.", e.Rule, e.Scope)
	}
	return fmt.Sprintf("Policy doesn't allow %s to be performed.", e.Rule)
}

// Is reports whether target is ErrForbidden.
func (e *Error) Is(target error) bool { return target == ErrForbidden }

// Target is what a rule is checked against: the resource's attributes
// (project_id, user_id …) that %(name)s substitutions read.
type Target map[string]any

// Options configure an [Enforcer].
type Options struct {
	// EnforceScope rejects tokens whose scope is not among a rule's
	// ScopeTypes (oslo.policy's [oslo_policy] enforce_scope).
	EnforceScope bool
}

type compiled struct {
	rule  Rule
	check Check
}

// Enforcer holds registered rules and operator overrides and decides
// whether a caller may perform an action. It is safe for concurrent use;
// overrides may be reloaded while requests are being checked.
type Enforcer struct {
	opts      Options
	mu        sync.RWMutex
	defaults  map[string]compiled
	overrides map[string]Check
}

// New returns an Enforcer with the given rules registered.
func New(opts Options, rules ...Rule) (*Enforcer, error) {
	e := &Enforcer{opts: opts, defaults: map[string]compiled{}, overrides: map[string]Check{}}
	if err := e.Register(rules...); err != nil {
		return nil, err
	}
	return e, nil
}

// Register adds default rules. A rule registered twice, with an empty
// name, an unknown scope type or a check string that does not parse is
// an error naming the rule; then none of rules is registered.
func (e *Enforcer) Register(rules ...Rule) error {
	parsed := make([]compiled, 0, len(rules))
	seen := map[string]bool{}
	for _, r := range rules {
		if r.Name == "" {
			return errors.New("policy: a rule has no name")
		}
		if seen[r.Name] {
			return fmt.Errorf("policy: rule %q registered twice", r.Name)
		}
		seen[r.Name] = true
		for _, s := range r.ScopeTypes {
			if s != ScopeSystem && s != ScopeDomain && s != ScopeProject {
				return fmt.Errorf("policy: rule %q: unknown scope type %q", r.Name, s)
			}
		}
		c, err := Parse(r.Check)
		if err != nil {
			return fmt.Errorf("policy: rule %q: %w", r.Name, err)
		}
		parsed = append(parsed, compiled{rule: r, check: c})
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, c := range parsed {
		if _, dup := e.defaults[c.rule.Name]; dup {
			return fmt.Errorf("policy: rule %q registered twice", c.rule.Name)
		}
	}
	for _, c := range parsed {
		e.defaults[c.rule.Name] = c
	}
	return nil
}

// SetOverrides replaces the operator's overrides (rule name → check
// string), as read from a policy file. Names not registered are kept as
// extra rules that rule: checks may reference. A check string that does
// not parse is an error naming the rule, and the previous overrides stay.
func (e *Enforcer) SetOverrides(rules map[string]string) error {
	m := make(map[string]Check, len(rules))
	for name, s := range rules {
		c, err := Parse(s)
		if err != nil {
			return fmt.Errorf("policy: override %q: %w", name, err)
		}
		m[name] = c
	}
	e.mu.Lock()
	e.overrides = m
	e.mu.Unlock()
	return nil
}

// ParseFile parses an oslo.policy file's contents, YAML or JSON (a
// mapping of rule name to check string).
func ParseFile(data []byte) (map[string]string, error) {
	var raw map[string]any
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&raw); err != nil {
		if errors.Is(err, io.EOF) {
			return map[string]string{}, nil
		}
		return nil, fmt.Errorf("policy: file: %w", err)
	}
	out := make(map[string]string, len(raw))
	for k, v := range raw {
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("policy: file: rule %q: the value must be a check string, not %T", k, v)
		}
		out[k] = s
	}
	return out, nil
}

// LoadFile reads an oslo.policy YAML or JSON file and makes it the
// overrides (see SetOverrides).
func (e *Enforcer) LoadFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("policy: %w", err)
	}
	rules, err := ParseFile(data)
	if err != nil {
		return fmt.Errorf("%w (%s)", err, path)
	}
	return e.SetOverrides(rules)
}

// Rules returns the registered rules sorted by name, with the check
// string in force (an override replaces the default's).
func (e *Enforcer) Rules() []Rule {
	e.mu.RLock()
	defer e.mu.RUnlock()
	out := make([]Rule, 0, len(e.defaults))
	for _, c := range e.defaults {
		r := c.rule
		if o, ok := e.overrides[r.Name]; ok {
			r.Check = o.String()
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Enforce checks rule for the credentials ctx carries (see
// identity.NewContext) against target. It returns nil when allowed, an
// *Error (errors.Is ErrForbidden) naming the rule when not (also when ctx
// carries no credentials), and an error wrapping ErrUnregistered when
// rule was never registered.
func (e *Enforcer) Enforce(ctx context.Context, rule string, target Target) error {
	c, _ := identity.FromContext(ctx)
	return e.Authorize(c, rule, target)
}

// Authorize is Enforce with explicit credentials (nil: anonymous).
func (e *Enforcer) Authorize(creds *identity.Credentials, rule string, target Target) error {
	e.mu.RLock()
	def, ok := e.defaults[rule]
	e.mu.RUnlock()
	if !ok {
		return fmt.Errorf("%w: %s", ErrUnregistered, rule)
	}
	if creds == nil {
		return &Error{Rule: rule}
	}
	if e.opts.EnforceScope && len(def.rule.ScopeTypes) > 0 {
		if s := scopeOf(creds); !slices.Contains(def.rule.ScopeTypes, s) {
			return &Error{Rule: rule, Scope: s}
		}
	}
	ev := &evaluation{e: e, creds: creds, target: target}
	if !ev.rule(rule) {
		return &Error{Rule: rule}
	}
	return nil
}

// Allowed reports whether Authorize would return nil.
func (e *Enforcer) Allowed(creds *identity.Credentials, rule string, target Target) bool {
	return e.Authorize(creds, rule, target) == nil
}

func scopeOf(c *identity.Credentials) string {
	switch {
	case c.SystemScope != "":
		return ScopeSystem
	case c.DomainID != "":
		return ScopeDomain
	case c.ProjectID != "":
		return ScopeProject
	}
	return "unscoped"
}

// credField returns a credential attribute as oslo.context's
// to_policy_values presents it; ok is false for unknown names.
func credField(c *identity.Credentials, name string) (any, bool) {
	switch name {
	case "user_id", "user":
		return c.UserID, true
	case "user_name":
		return c.UserName, true
	case "user_domain_id":
		return c.UserDomainID, true
	case "project_id", "tenant":
		return c.ProjectID, true
	case "project_name":
		return c.ProjectName, true
	case "project_domain_id":
		return c.ProjectDomainID, true
	case "domain_id":
		return c.DomainID, true
	case "roles":
		return c.Roles, true
	case "is_admin":
		return c.IsAdmin(), true
	case "is_admin_project":
		return true, true
	case "system_scope":
		if c.SystemScope == "" {
			return nil, true
		}
		return c.SystemScope, true
	}
	return nil, false
}

const maxRuleDepth = 32

type evaluation struct {
	e      *Enforcer
	creds  *identity.Credentials
	target Target
	depth  int
}

func (ev *evaluation) rule(name string) bool {
	ev.e.mu.RLock()
	c, ok := ev.e.overrides[name]
	if !ok {
		var d compiled
		d, ok = ev.e.defaults[name]
		c = d.check
	}
	ev.e.mu.RUnlock()
	if !ok || ev.depth >= maxRuleDepth {
		return false
	}
	ev.depth++
	defer func() { ev.depth-- }()
	return c.eval(ev)
}

func (trueCheck) eval(*evaluation) bool      { return true }
func (falseCheck) eval(*evaluation) bool     { return false }
func (c notCheck) eval(ev *evaluation) bool  { return !c.c.eval(ev) }
func (c ruleCheck) eval(ev *evaluation) bool { return ev.rule(c.name) }

func (c andCheck) eval(ev *evaluation) bool {
	for _, x := range c.cs {
		if !x.eval(ev) {
			return false
		}
	}
	return true
}

func (c orCheck) eval(ev *evaluation) bool {
	for _, x := range c.cs {
		if x.eval(ev) {
			return true
		}
	}
	return false
}

func (c roleCheck) eval(ev *evaluation) bool {
	m, ok := substitute(c.match, ev.target)
	if !ok {
		return false
	}
	return ev.creds.HasRole(m)
}

func (c genericCheck) eval(ev *evaluation) bool {
	m, ok := substitute(c.match, ev.target)
	if !ok {
		return false
	}
	if c.literal {
		return c.value == m
	}
	v, ok := credField(ev.creds, c.kind)
	if !ok {
		return false
	}
	if list, isList := v.([]string); isList {
		// roles: compared as oslo.policy does, lower case.
		return slices.ContainsFunc(list, func(r string) bool { return strings.EqualFold(r, m) })
	}
	return pyString(v) == m
}

// SampleYAML renders the registered defaults as an oslo.policy sample
// file (what oslopolicy-sample-generator writes): every rule commented
// out with its description and scope types, ready for an operator to
// uncomment and change.
func (e *Enforcer) SampleYAML() []byte {
	var b strings.Builder
	e.mu.RLock()
	rules := make([]Rule, 0, len(e.defaults))
	for _, c := range e.defaults {
		rules = append(rules, c.rule)
	}
	e.mu.RUnlock()
	sort.Slice(rules, func(i, j int) bool { return rules[i].Name < rules[j].Name })
	for _, r := range rules {
		if r.Description != "" {
			for line := range strings.SplitSeq(r.Description, "\n") {
				b.WriteString("# " + line + "\n")
			}
		}
		if len(r.ScopeTypes) > 0 {
			b.WriteString("# Scope types: " + strings.Join(r.ScopeTypes, ", ") + "\n")
		}
		name, _ := yaml.Marshal(r.Name)
		check, _ := yaml.Marshal(r.Check)
		b.WriteString("#" + strings.TrimSpace(string(name)) + ": " + strings.TrimSpace(string(check)) + "\n\n")
	}
	return []byte(b.String())
}
