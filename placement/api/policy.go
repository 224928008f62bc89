package api

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/novakit/novakit/identity/policy"
)

// Target is the object of a checked action, as oslo.policy's target dict:
// the project (and user) the request is about. Only GET /usages has one
// (project_id and user_id from the query), as in Placement.
type Target struct {
	ProjectID string
	UserID    string
}

// DefaultRules returns Placement's default rules of set d as
// identity/policy rules (name, check string, scope types): what
// `oslopolicy-sample-generator --namespace placement` prints. Under
// PolicySecureRBAC every rule but project_reader_api accepts
// project-scoped tokens only.
func DefaultRules(d PolicyDefaults) []policy.Rule {
	checks := DefaultCheckStrings(d)
	var scopes []string
	if d == PolicySecureRBAC {
		scopes = []string{policy.ScopeProject}
	}
	rules := make([]policy.Rule, 0, len(checks))
	for name, check := range checks {
		r := policy.Rule{Name: name, Check: check, ScopeTypes: scopes}
		if name == "project_reader_api" {
			r.ScopeTypes = nil
		}
		rules = append(rules, r)
	}
	return rules
}

// NewEnforcer returns an identity/policy Enforcer holding Placement's
// default rules of set d (enforcing scopes under PolicySecureRBAC, as
// oslo.policy with enforce_scope) with overrides (rule name → oslo.policy
// check string, as in a policy.yaml) on top. Load a policy file with its
// LoadFile. Errors name the rule whose check string does not parse.
func NewEnforcer(d PolicyDefaults, overrides map[string]string) (*policy.Enforcer, error) {
	e, err := policy.New(policy.Options{EnforceScope: d == PolicySecureRBAC}, DefaultRules(d)...)
	if err != nil {
		return nil, fmt.Errorf("placement policy: %w", err)
	}
	if len(overrides) > 0 {
		if err := e.SetOverrides(overrides); err != nil {
			return nil, fmt.Errorf("placement policy: %w", err)
		}
	}
	return e, nil
}

// authorize applies rule name with target t and answers 403 with
// Placement's body on refusal.
func (rq *request) authorize(name string, t Target) error {
	var target policy.Target
	if t != (Target{}) {
		target = policy.Target{"project_id": t.ProjectID, "user_id": t.UserID}
	}
	err := rq.s.policy.Authorize(rq.creds, name, target)
	if err == nil {
		return nil
	}
	var pe *policy.Error
	if errors.As(err, &pe) && pe.Scope != "" {
		return errorf(http.StatusForbidden, "Policy does not allow %s to be performed: a %s-scoped token is not accepted, use a project-scoped one.", name, pe.Scope)
	}
	if !errors.Is(err, policy.ErrForbidden) {
		return errorf(http.StatusInternalServerError, "policy check %s failed: %v", name, err)
	}
	return errorf(http.StatusForbidden, "Policy does not allow %s to be performed.", name)
}
