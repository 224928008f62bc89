package api

import (
	"context"
	"errors"
	"sort"

	"github.com/novakit/novakit/identity"
	"github.com/novakit/novakit/identity/policy"
)

// PolicyRules returns the API's rules with Nova's defaults as
// identity/policy rules (oslo.policy check strings), sorted by name.
func PolicyRules() []policy.Rule {
	var out []policy.Rule
	for name, persona := range DefaultPersonas() {
		out = append(out, policy.Rule{Name: name, Check: PersonaCheckStrings[persona], ScopeTypes: []string{policy.ScopeProject}})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// EnforcerPolicy adapts an identity/policy Enforcer (which operators can
// override with a policy.yaml) to [Policy]. It is safe for concurrent use.
type EnforcerPolicy struct{ E *policy.Enforcer }

// NewEnforcerPolicy returns an EnforcerPolicy whose enforcer has
// [PolicyRules] registered and the overrides (rule name → check string,
// as in policy.yaml) applied.
func NewEnforcerPolicy(opts policy.Options, overrides map[string]string) (*EnforcerPolicy, error) {
	e, err := policy.New(opts, PolicyRules()...)
	if err != nil {
		return nil, err
	}
	if len(overrides) > 0 {
		if err := e.SetOverrides(overrides); err != nil {
			return nil, err
		}
	}
	return &EnforcerPolicy{E: e}, nil
}

// Authorize implements Policy: a denial is a *ForbiddenError naming the
// rule; an unregistered rule is denied too.
func (p *EnforcerPolicy) Authorize(_ context.Context, creds *identity.Credentials, rule string, t Target) error {
	err := p.E.Authorize(creds, rule, policy.Target{"project_id": t.ProjectID, "user_id": t.UserID})
	if err == nil {
		return nil
	}
	if errors.Is(err, policy.ErrForbidden) || errors.Is(err, policy.ErrUnregistered) {
		return &ForbiddenError{Rule: rule}
	}
	return err
}
