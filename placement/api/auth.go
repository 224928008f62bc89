package api

import (
	"context"
	"fmt"
	"strings"

	"github.com/novakit/novakit/identity"
)

// NoAuth returns Placement's noauth2 authenticator, for tests and
// development: the token "user[:project]" is accepted as is (project
// defaults to user), scoped to that project; the user "admin" has the admin
// role, anyone else none. A token with an empty user is refused with
// identity.ErrUnauthorized (and a missing token never reaches it: 401).
// It is safe for concurrent use.
func NoAuth() identity.Authenticator {
	return identity.AuthenticatorFunc(func(_ context.Context, tok string) (*identity.Credentials, error) {
		user, project, _ := strings.Cut(tok, ":")
		if user == "" {
			return nil, fmt.Errorf("noauth token %q has no user: %w", tok, identity.ErrUnauthorized)
		}
		if project == "" {
			project = user
		}
		c := &identity.Credentials{UserID: user, ProjectID: project, Token: tok}
		if user == "admin" {
			c.Roles = []string{"admin"}
		}
		return c, nil
	})
}

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

// RuleNames lists every API rule Placement defines (not the generic
// admin_api, service_api, … rules they refer to).
func RuleNames() []string {
	return []string{
		RuleProvidersList, RuleProvidersCreate, RuleProvidersShow, RuleProvidersUpdate, RuleProvidersDelete,
		RuleInventoriesList, RuleInventoriesCreate, RuleInventoriesShow, RuleInventoriesUpdate, RuleInventoriesDelete,
		RuleAggregatesList, RuleAggregatesUpdate, RuleProviderUsages, RuleTotalUsages,
		RuleProviderTraitsList, RuleProviderTraitsUpdate, RuleProviderTraitsDelete,
		RuleTraitsList, RuleTraitsShow, RuleTraitsUpdate, RuleTraitsDelete,
		RuleClassesList, RuleClassesCreate, RuleClassesShow, RuleClassesUpdate, RuleClassesDelete,
		RuleAllocationsList, RuleAllocationsManage, RuleAllocationsUpdate, RuleAllocationsDelete,
		RuleProviderAllocationsList, RuleCandidatesList, RuleReshape,
	}
}

// PolicyDefaults selects one of Placement's two sets of default rules.
type PolicyDefaults int

const (
	// PolicyLegacy is Placement's deprecated default set: every API rule
	// is rule:admin_api and admin_api is role:admin; scopes are not
	// checked. It is the zero value.
	PolicyLegacy PolicyDefaults = iota
	// PolicySecureRBAC is Placement's secure-RBAC default set, enforced as
	// oslo.policy does with enforce_new_defaults and enforce_scope: most
	// rules are "role:admin or role:service", GET /usages also admits a
	// reader of the project asked about, POST /reshaper is the service role
	// only, and every API rule needs a project-scoped token (a system- or
	// domain-scoped one is refused whatever its roles).
	PolicySecureRBAC
)

// String returns "legacy" or "secure-rbac".
func (d PolicyDefaults) String() string {
	if d == PolicySecureRBAC {
		return "secure-rbac"
	}
	return "legacy"
}

// ParsePolicyDefaults parses "legacy" or "secure-rbac" (also
// "secure_rbac" and "rbac").
func ParsePolicyDefaults(s string) (PolicyDefaults, error) {
	switch strings.ToLower(s) {
	case "", "legacy":
		return PolicyLegacy, nil
	case "secure-rbac", "secure_rbac", "rbac":
		return PolicySecureRBAC, nil
	}
	return 0, fmt.Errorf("policy defaults %q: want legacy or secure-rbac", s)
}

// DefaultCheckStrings returns the default rules of set d as oslo.policy
// check strings (a fresh map), generic rules included: what
// `oslopolicy-sample-generator --namespace placement` prints.
func DefaultCheckStrings(d PolicyDefaults) map[string]string {
	m := map[string]string{}
	if d == PolicySecureRBAC {
		m["admin_api"] = "role:admin"
		m["service_api"] = "role:service"
		m["admin_or_service_api"] = "role:admin or role:service"
		m["project_reader_api"] = "role:reader and project_id:%(project_id)s"
		m["admin_or_project_reader_or_service_api"] = "role:admin or rule:project_reader_api or role:service"
		for _, n := range RuleNames() {
			m[n] = "rule:admin_or_service_api"
		}
		m[RuleTotalUsages] = "rule:admin_or_project_reader_or_service_api"
		m[RuleReshape] = "rule:service_api"
		return m
	}
	m[RuleAdminAPI] = "role:admin"
	for _, n := range RuleNames() {
		m[n] = "rule:admin_api"
	}
	return m
}
