package api

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
)

// Credentials describe the caller of a request, as the Authenticator
// established them.
type Credentials struct {
	UserID    string
	ProjectID string
	Roles     []string
}

// HasRole reports whether c carries role (case-insensitive, as Keystone
// roles are compared by oslo.policy).
func (c Credentials) HasRole(role string) bool {
	return slices.ContainsFunc(c.Roles, func(r string) bool { return strings.EqualFold(r, role) })
}

// Authenticator validates the X-Auth-Token of a request. An error means the
// token is not valid (401). Implementations must be safe for concurrent use.
type Authenticator interface {
	Authenticate(ctx context.Context, token string) (Credentials, error)
}

// AuthenticatorFunc adapts a function to Authenticator.
type AuthenticatorFunc func(ctx context.Context, token string) (Credentials, error)

// Authenticate calls f.
func (f AuthenticatorFunc) Authenticate(ctx context.Context, token string) (Credentials, error) {
	return f(ctx, token)
}

// NoAuth returns Placement's noauth2 authenticator, for tests and
// development: the token "user[:project]" is accepted as is; the user
// "admin" has the admin role, anyone else none. (A missing token is still
// 401.)
func NoAuth() Authenticator {
	return AuthenticatorFunc(func(_ context.Context, tok string) (Credentials, error) {
		user, project, _ := strings.Cut(tok, ":")
		if user == "" {
			return Credentials{}, errors.New("empty token")
		}
		if project == "" {
			project = user
		}
		c := Credentials{UserID: user, ProjectID: project}
		if user == "admin" {
			c.Roles = []string{"admin"}
		}
		return c, nil
	})
}

// Rule is one policy check: it reports whether the caller may proceed.
type Rule func(c Credentials) bool

// RoleRule allows callers having role.
func RoleRule(role string) Rule { return func(c Credentials) bool { return c.HasRole(role) } }

// AllowAll allows every authenticated caller.
func AllowAll(Credentials) bool { return true }

// Policy rule names, as in Placement's policy file.
const (
	RuleAdminAPI = "admin_api"

	RuleProvidersList   = "placement:resource_providers:list"
	RuleProvidersCreate = "placement:resource_providers:create"
	RuleProvidersShow   = "placement:resource_providers:show"
	RuleProvidersUpdate = "placement:resource_providers:update"
	RuleProvidersDelete = "placement:resource_providers:delete"

	RuleInventoriesList   = "placement:resource_providers:inventories:list"
	RuleInventoriesCreate = "placement:resource_providers:inventories:create"
	RuleInventoriesShow   = "placement:resource_providers:inventories:show"
	RuleInventoriesUpdate = "placement:resource_providers:inventories:update"
	RuleInventoriesDelete = "placement:resource_providers:inventories:delete"

	RuleAggregatesList   = "placement:resource_providers:aggregates:list"
	RuleAggregatesUpdate = "placement:resource_providers:aggregates:update"

	RuleProviderUsages = "placement:resource_providers:usages"
	RuleTotalUsages    = "placement:usages"

	RuleProviderTraitsList   = "placement:resource_providers:traits:list"
	RuleProviderTraitsUpdate = "placement:resource_providers:traits:update"
	RuleProviderTraitsDelete = "placement:resource_providers:traits:delete"

	RuleTraitsList   = "placement:traits:list"
	RuleTraitsShow   = "placement:traits:show"
	RuleTraitsUpdate = "placement:traits:update"
	RuleTraitsDelete = "placement:traits:delete"

	RuleClassesList   = "placement:resource_classes:list"
	RuleClassesCreate = "placement:resource_classes:create"
	RuleClassesShow   = "placement:resource_classes:show"
	RuleClassesUpdate = "placement:resource_classes:update"
	RuleClassesDelete = "placement:resource_classes:delete"

	RuleAllocationsList   = "placement:allocations:list"
	RuleAllocationsManage = "placement:allocations:manage"
	RuleAllocationsUpdate = "placement:allocations:update"
	RuleAllocationsDelete = "placement:allocations:delete"

	RuleProviderAllocationsList = "placement:resource_providers:allocations:list"
	RuleCandidatesList          = "placement:allocation_candidates:list"
	RuleReshape                 = "placement:reshaper:reshape"
)

var ruleNames = []string{
	RuleProvidersList, RuleProvidersCreate, RuleProvidersShow, RuleProvidersUpdate, RuleProvidersDelete,
	RuleInventoriesList, RuleInventoriesCreate, RuleInventoriesShow, RuleInventoriesUpdate, RuleInventoriesDelete,
	RuleAggregatesList, RuleAggregatesUpdate, RuleProviderUsages, RuleTotalUsages,
	RuleProviderTraitsList, RuleProviderTraitsUpdate, RuleProviderTraitsDelete,
	RuleTraitsList, RuleTraitsShow, RuleTraitsUpdate, RuleTraitsDelete,
	RuleClassesList, RuleClassesCreate, RuleClassesShow, RuleClassesUpdate, RuleClassesDelete,
	RuleAllocationsList, RuleAllocationsManage, RuleAllocationsUpdate, RuleAllocationsDelete,
	RuleProviderAllocationsList, RuleCandidatesList, RuleReshape,
}

// DefaultPolicy returns Placement's legacy defaults: every API rule is
// rule:admin_api, and admin_api is role:admin. The map is a fresh copy; the
// secure-RBAC (scoped, reader/member) defaults are not provided yet.
func DefaultPolicy() map[string]Rule {
	p := map[string]Rule{RuleAdminAPI: RoleRule("admin")}
	for _, n := range ruleNames {
		p[n] = nil // nil: defer to admin_api
	}
	return p
}

// authorize applies rule name (nil rule: admin_api) and answers 403 with
// Placement's body on refusal.
func (rq *request) authorize(name string) error {
	r := rq.s.policy[name]
	if r == nil {
		r = rq.s.policy[RuleAdminAPI]
	}
	if r == nil || !r(rq.creds) {
		return errorf(http.StatusForbidden, "Policy does not allow %s to be performed.", name)
	}
	return nil
}
