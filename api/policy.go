package api

import (
	"context"
	"sort"

	"github.com/novakit/novakit/identity"
)

// Target is what a policy rule is checked against: the project and user
// that own the resource (Nova's policy target dict).
type Target struct {
	ProjectID string
	UserID    string
}

// Policy decides whether creds may perform rule on target. Authorize
// returns nil or an error satisfying errors.Is(err, ErrForbidden). It must
// be safe for concurrent use. identity/policy's enforcer can be plugged in
// through a small adapter; [DefaultPolicy] carries Nova's defaults.
type Policy interface {
	Authorize(ctx context.Context, creds *identity.Credentials, rule string, target Target) error
}

// Check is one default rule: whether creds pass for target.
type Check func(creds *identity.Credentials, target Target) bool

// Nova's default personas (nova/policies/base.py, new defaults with
// scope enforcement): Keystone's default roles imply member ⊃ reader, and
// a token carries the implied roles; both are accepted here.
var (
	// Admin: role admin.
	Admin Check = func(c *identity.Credentials, _ Target) bool { return c.IsAdmin() }
	// ProjectMemberOrAdmin: admin, or member of the target's project.
	ProjectMemberOrAdmin Check = func(c *identity.Credentials, t Target) bool {
		return c.IsAdmin() || (c.HasRole("member") && c.ProjectID != "" && c.ProjectID == t.ProjectID)
	}
	// ProjectReaderOrAdmin: admin, or reader (or member) of the target's
	// project.
	ProjectReaderOrAdmin Check = func(c *identity.Credentials, t Target) bool {
		return c.IsAdmin() || ((c.HasRole("reader") || c.HasRole("member")) && c.ProjectID != "" && c.ProjectID == t.ProjectID)
	}
	// AdminOrOwner: admin, or the target's user (key pairs).
	AdminOrOwner Check = func(c *identity.Credentials, t Target) bool {
		return c.IsAdmin() || (c.UserID != "" && c.UserID == t.UserID)
	}
	// Anyone: any authenticated caller.
	Anyone Check = func(*identity.Credentials, Target) bool { return true }
)

// Rule names, as Nova's policy files name them.
const (
	RuleServersIndex          = "os_compute_api:servers:index"
	RuleServersIndexAllTenant = "os_compute_api:servers:index:get_all_tenants"
	RuleServersDetail         = "os_compute_api:servers:detail"
	RuleServersShow           = "os_compute_api:servers:show"
	RuleServersShowHostStatus = "os_compute_api:servers:show:host_status"
	RuleServersCreate         = "os_compute_api:servers:create"
	RuleServersCreateForced   = "os_compute_api:servers:create:forced_host"
	RuleServersUpdate         = "os_compute_api:servers:update"
	RuleServersDelete         = "os_compute_api:servers:delete"
	RuleServersStart          = "os_compute_api:servers:start"
	RuleServersStop           = "os_compute_api:servers:stop"
	RuleServersReboot         = "os_compute_api:servers:reboot"
	RuleServersResize         = "os_compute_api:servers:resize"
	RuleServersConfirmResize  = "os_compute_api:servers:confirm_resize"
	RuleServersRevertResize   = "os_compute_api:servers:revert_resize"
	RuleServersRebuild        = "os_compute_api:servers:rebuild"
	RuleServersCreateImage    = "os_compute_api:servers:create_image"
	RuleExtendedAttributes    = "os_compute_api:os-extended-server-attributes"
	RulePause                 = "os_compute_api:os-pause-server:pause"
	RuleUnpause               = "os_compute_api:os-pause-server:unpause"
	RuleSuspend               = "os_compute_api:os-suspend-server:suspend"
	RuleResume                = "os_compute_api:os-suspend-server:resume"
	RuleLock                  = "os_compute_api:os-lock-server:lock"
	RuleUnlock                = "os_compute_api:os-lock-server:unlock"
	RuleUnlockOverride        = "os_compute_api:os-lock-server:unlock:unlock_override"
	RuleShelve                = "os_compute_api:os-shelve:shelve"
	RuleShelveOffload         = "os_compute_api:os-shelve:shelve_offload"
	RuleUnshelve              = "os_compute_api:os-shelve:unshelve"
	RuleUnshelveToHost        = "os_compute_api:os-shelve:unshelve_to_host"
	RuleMigrate               = "os_compute_api:os-migrate-server:migrate"
	RuleMigrateHost           = "os_compute_api:os-migrate-server:migrate:host"
	RuleEvacuate              = "os_compute_api:os-evacuate"
	RuleResetState            = "os_compute_api:os-admin-actions:reset_state"
	RuleConsoleOutput         = "os_compute_api:os-console-output"
	RuleRemoteConsoles        = "os_compute_api:os-remote-consoles"
	RuleMetadataIndex         = "os_compute_api:server-metadata:index"
	RuleMetadataShow          = "os_compute_api:server-metadata:show"
	RuleMetadataCreate        = "os_compute_api:server-metadata:create"
	RuleMetadataUpdate        = "os_compute_api:server-metadata:update"
	RuleMetadataUpdateAll     = "os_compute_api:server-metadata:update_all"
	RuleMetadataDelete        = "os_compute_api:server-metadata:delete"
	RuleFlavorsIndex          = "os_compute_api:flavors:index"
	RuleFlavorCreate          = "os_compute_api:os-flavor-manage:create"
	RuleFlavorUpdate          = "os_compute_api:os-flavor-manage:update"
	RuleFlavorDelete          = "os_compute_api:os-flavor-manage:delete"
	RuleFlavorAccess          = "os_compute_api:os-flavor-access"
	RuleFlavorAccessAdd       = "os_compute_api:os-flavor-access:add_tenant_access"
	RuleFlavorAccessRemove    = "os_compute_api:os-flavor-access:remove_tenant_access"
	RuleExtraSpecsIndex       = "os_compute_api:os-flavor-extra-specs:index"
	RuleExtraSpecsShow        = "os_compute_api:os-flavor-extra-specs:show"
	RuleExtraSpecsCreate      = "os_compute_api:os-flavor-extra-specs:create"
	RuleExtraSpecsUpdate      = "os_compute_api:os-flavor-extra-specs:update"
	RuleExtraSpecsDelete      = "os_compute_api:os-flavor-extra-specs:delete"
	RuleKeypairsIndex         = "os_compute_api:os-keypairs:index"
	RuleKeypairsCreate        = "os_compute_api:os-keypairs:create"
	RuleKeypairsShow          = "os_compute_api:os-keypairs:show"
	RuleKeypairsDelete        = "os_compute_api:os-keypairs:delete"
	RuleLimits                = "os_compute_api:limits"
	RuleLimitsOtherProject    = "os_compute_api:limits:other_project"
	RuleQuotaShow             = "os_compute_api:os-quota-sets:show"
	RuleQuotaUpdate           = "os_compute_api:os-quota-sets:update"
	RuleQuotaDefaults         = "os_compute_api:os-quota-sets:defaults"
	RuleQuotaDelete           = "os_compute_api:os-quota-sets:delete"
	RuleQuotaDetail           = "os_compute_api:os-quota-sets:detail"
	RuleAZList                = "os_compute_api:os-availability-zone:list"
	RuleAZDetail              = "os_compute_api:os-availability-zone:detail"
	RuleServerGroupsIndex     = "os_compute_api:os-server-groups:index"
	RuleServerGroupsIndexAll  = "os_compute_api:os-server-groups:index:all_projects"
	RuleServerGroupsShow      = "os_compute_api:os-server-groups:show"
	RuleServerGroupsCreate    = "os_compute_api:os-server-groups:create"
	RuleServerGroupsDelete    = "os_compute_api:os-server-groups:delete"
	RuleServicesList          = "os_compute_api:os-services:list"
	RuleServicesUpdate        = "os_compute_api:os-services:update"
	RuleServicesDelete        = "os_compute_api:os-services:delete"
	RuleHypervisorsList       = "os_compute_api:os-hypervisors:list"
	RuleHypervisorsDetail     = "os_compute_api:os-hypervisors:list-detail"
	RuleHypervisorsShow       = "os_compute_api:os-hypervisors:show"
	RuleHypervisorsStatistics = "os_compute_api:os-hypervisors:statistics"
	RuleHypervisorsUptime     = "os_compute_api:os-hypervisors:uptime"
	RuleHypervisorsSearch     = "os_compute_api:os-hypervisors:search"
	RuleHypervisorsServers    = "os_compute_api:os-hypervisors:servers"
	RuleActionsList           = "os_compute_api:os-instance-actions:list"
	RuleActionsShow           = "os_compute_api:os-instance-actions:show"
	RuleActionsEvents         = "os_compute_api:os-instance-actions:events"
	RuleActionsEventsDetails  = "os_compute_api:os-instance-actions:events:details"
	RuleMigrationsIndex       = "os_compute_api:os-migrations:index"
	RuleAggregatesIndex       = "os_compute_api:os-aggregates:index"
	RuleAggregatesCreate      = "os_compute_api:os-aggregates:create"
	RuleAggregatesShow        = "os_compute_api:os-aggregates:show"
	RuleAggregatesUpdate      = "os_compute_api:os-aggregates:update"
	RuleAggregatesDelete      = "os_compute_api:os-aggregates:delete"
	RuleAggregatesAddHost     = "os_compute_api:os-aggregates:add_host"
	RuleAggregatesRemoveHost  = "os_compute_api:os-aggregates:remove_host"
	RuleAggregatesSetMetadata = "os_compute_api:os-aggregates:set_metadata"
	RuleUsageList             = "os_compute_api:os-simple-tenant-usage:list"
	RuleUsageShow             = "os_compute_api:os-simple-tenant-usage:show"
)

// Personas name Nova's default rule families; each rule's default is one
// of them.
const (
	PersonaAdmin  = "admin"
	PersonaMember = "project_member_or_admin"
	PersonaReader = "project_reader_or_admin"
	PersonaOwner  = "admin_or_owner"
	PersonaAnyone = "anyone"
)

// PersonaChecks are the personas as Go checks.
var personaChecks = map[string]Check{
	PersonaAdmin: Admin, PersonaMember: ProjectMemberOrAdmin, PersonaReader: ProjectReaderOrAdmin,
	PersonaOwner: AdminOrOwner, PersonaAnyone: Anyone,
}

// PersonaCheckStrings are the personas as oslo.policy check strings (for
// identity/policy and policy.yaml files).
var PersonaCheckStrings = map[string]string{
	PersonaAdmin:  "role:admin",
	PersonaMember: "role:admin or (role:member and project_id:%(project_id)s)",
	PersonaReader: "role:admin or ((role:reader or role:member) and project_id:%(project_id)s)",
	PersonaOwner:  "role:admin or user_id:%(user_id)s",
	PersonaAnyone: "@",
}

// DefaultPersonas returns the persona of every rule the API checks (a new
// map each call).
func DefaultPersonas() map[string]string {
	r := map[string]string{}
	for _, k := range []string{
		RuleServersIndex, RuleServersDetail, RuleServersShow, RuleMetadataIndex, RuleMetadataShow,
		RuleActionsList, RuleActionsShow, RuleLimits, RuleQuotaShow, RuleQuotaDetail,
		RuleServerGroupsIndex, RuleServerGroupsShow, RuleTagsIndex, RuleTagsShow, RuleUsageShow,
	} {
		r[k] = PersonaReader
	}
	for _, k := range []string{
		RuleServersCreate, RuleServersUpdate, RuleServersDelete, RuleServersStart, RuleServersStop,
		RuleServersReboot, RuleServersResize, RuleServersConfirmResize, RuleServersRevertResize,
		RuleServersRebuild, RuleServersCreateImage, RulePause, RuleUnpause, RuleSuspend, RuleResume,
		RuleLock, RuleUnlock, RuleShelve, RuleUnshelve, RuleConsoleOutput, RuleRemoteConsoles,
		RuleMetadataCreate, RuleMetadataUpdate, RuleMetadataUpdateAll, RuleMetadataDelete,
		RuleServerGroupsCreate, RuleServerGroupsDelete, RuleTagsUpdate, RuleTagsUpdateAll,
		RuleTagsDelete, RuleTagsDeleteAll,
	} {
		r[k] = PersonaMember
	}
	for _, k := range []string{
		RuleServersIndexAllTenant, RuleServersShowHostStatus, RuleServersCreateForced,
		RuleExtendedAttributes, RuleUnlockOverride, RuleShelveOffload, RuleUnshelveToHost,
		RuleMigrate, RuleMigrateHost, RuleEvacuate, RuleResetState, RuleFlavorCreate,
		RuleFlavorUpdate, RuleFlavorDelete, RuleFlavorAccess, RuleFlavorAccessAdd,
		RuleFlavorAccessRemove, RuleExtraSpecsCreate, RuleExtraSpecsUpdate, RuleExtraSpecsDelete,
		RuleLimitsOtherProject, RuleQuotaUpdate, RuleQuotaDelete, RuleAZDetail,
		RuleServerGroupsIndexAll, RuleServicesList, RuleServicesUpdate, RuleServicesDelete,
		RuleHypervisorsList, RuleHypervisorsDetail, RuleHypervisorsShow, RuleHypervisorsStatistics,
		RuleHypervisorsUptime, RuleHypervisorsSearch, RuleHypervisorsServers, RuleActionsEvents,
		RuleActionsEventsDetails, RuleMigrationsIndex, RuleAggregatesIndex, RuleAggregatesCreate,
		RuleAggregatesShow, RuleAggregatesUpdate, RuleAggregatesDelete, RuleAggregatesAddHost,
		RuleAggregatesRemoveHost, RuleAggregatesSetMetadata, RuleUsageList,
	} {
		r[k] = PersonaAdmin
	}
	for _, k := range []string{RuleFlavorsIndex, RuleExtraSpecsIndex, RuleExtraSpecsShow, RuleQuotaDefaults, RuleAZList} {
		r[k] = PersonaAnyone
	}
	for _, k := range []string{RuleKeypairsIndex, RuleKeypairsCreate, RuleKeypairsShow, RuleKeypairsDelete} {
		r[k] = PersonaOwner
	}
	return r
}

// DefaultRules returns Nova's default rules as Go checks (a new map each
// call), for building a [RulePolicy] with overrides.
func DefaultRules() map[string]Check {
	r := map[string]Check{}
	for k, p := range DefaultPersonas() {
		r[k] = personaChecks[p]
	}
	return r
}

// RulePolicy is a Policy from a table of rules. A rule missing from the
// table is refused (fail closed). It is read-only after construction and
// safe for concurrent use.
type RulePolicy struct{ rules map[string]Check }

// NewRulePolicy returns a policy over rules (copied).
func NewRulePolicy(rules map[string]Check) *RulePolicy {
	m := make(map[string]Check, len(rules))
	for k, v := range rules {
		m[k] = v
	}
	return &RulePolicy{rules: m}
}

// DefaultPolicy returns Nova's default policy.
func DefaultPolicy() *RulePolicy { return NewRulePolicy(DefaultRules()) }

// Authorize implements Policy.
func (p *RulePolicy) Authorize(_ context.Context, creds *identity.Credentials, rule string, target Target) error {
	check, ok := p.rules[rule]
	if !ok || creds == nil || !check(creds, target) {
		return &ForbiddenError{Rule: rule}
	}
	return nil
}

// Rules returns the names of the rules the policy knows, sorted.
func (p *RulePolicy) Rules() []string {
	out := make([]string, 0, len(p.rules))
	for k := range p.rules {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
