package api

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/store"
)

// ---- flavors ----

// ListFlavors lists flavors the caller may see. Non-admins see public
// flavors and private ones their project was granted; admins choose with
// f.IsPublic (nil: all).
func (a *API) ListFlavors(ctx context.Context, f store.FlavorFilter, opts compute.ListOptions) ([]*compute.Flavor, error) {
	c, err := a.authorize(ctx, RuleFlavorsIndex, Target{})
	if err != nil {
		return nil, err
	}
	if !c.IsAdmin() {
		f.IsPublic = nil
		f.ProjectID = c.ProjectID
	}
	if opts.Limit <= 0 || opts.Limit > a.maxLimit {
		opts.Limit = a.maxLimit
	}
	return a.st.Flavors().List(ctx, f, opts)
}

// GetFlavor returns a flavor by its API id. A private flavor the caller's
// project may not use is not found for non-admins.
func (a *API) GetFlavor(ctx context.Context, id string) (*compute.Flavor, error) {
	c, err := a.authorize(ctx, RuleFlavorsIndex, Target{})
	if err != nil {
		return nil, err
	}
	fl, err := a.st.Flavors().Get(ctx, id)
	if errors.Is(err, compute.ErrNotFound) {
		return nil, compute.NotFound("Flavor", id)
	}
	if err != nil {
		return nil, err
	}
	if !fl.IsPublic && !c.IsAdmin() {
		acc, err := a.st.Flavors().ListAccess(ctx, fl.FlavorID)
		if err != nil {
			return nil, err
		}
		for _, x := range acc {
			if x.ProjectID == c.ProjectID {
				return fl, nil
			}
		}
		return nil, compute.NotFound("Flavor", id)
	}
	return fl, nil
}

// CreateFlavor stores a flavor (admin). Duplicate id or name → 409.
func (a *API) CreateFlavor(ctx context.Context, f *compute.Flavor) (*compute.Flavor, error) {
	if _, err := a.authorize(ctx, RuleFlavorCreate, Target{}); err != nil {
		return nil, err
	}
	if err := f.Validate(); err != nil {
		return nil, err
	}
	out, err := a.st.Flavors().Create(ctx, f)
	var dup *compute.DuplicateError
	if errors.As(err, &dup) {
		return nil, conflict("Flavor with %s already exists.", dup.Key)
	}
	return out, err
}

// UpdateFlavorDescription sets a flavor's description (2.55, admin).
func (a *API) UpdateFlavorDescription(ctx context.Context, id, desc string) (*compute.Flavor, error) {
	if _, err := a.authorize(ctx, RuleFlavorUpdate, Target{}); err != nil {
		return nil, err
	}
	return a.st.Flavors().UpdateDescription(ctx, id, desc)
}

// DeleteFlavor deletes a flavor (admin).
func (a *API) DeleteFlavor(ctx context.Context, id string) error {
	if _, err := a.authorize(ctx, RuleFlavorDelete, Target{}); err != nil {
		return err
	}
	return a.st.Flavors().Delete(ctx, id)
}

// FlavorAccess lists the projects granted a private flavor (admin). A
// public flavor has no access list (404, as Nova).
func (a *API) FlavorAccess(ctx context.Context, id string) ([]compute.FlavorAccess, error) {
	if _, err := a.authorize(ctx, RuleFlavorAccess, Target{}); err != nil {
		return nil, err
	}
	fl, err := a.st.Flavors().Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if fl.IsPublic {
		return nil, compute.NotFound("Flavor access list for public flavor", id)
	}
	return a.st.Flavors().ListAccess(ctx, id)
}

// SetFlavorAccess grants (add) or revokes a project's access to a private
// flavor (admin). Public flavors → 409.
func (a *API) SetFlavorAccess(ctx context.Context, id, project string, add bool) ([]compute.FlavorAccess, error) {
	rule := RuleFlavorAccessRemove
	if add {
		rule = RuleFlavorAccessAdd
	}
	if _, err := a.authorize(ctx, rule, Target{}); err != nil {
		return nil, err
	}
	fl, err := a.st.Flavors().Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if fl.IsPublic {
		return nil, conflict("Can not add access to a public flavor.")
	}
	if add {
		err = a.st.Flavors().AddAccess(ctx, id, project)
		if errors.Is(err, compute.ErrConflict) {
			return nil, conflict("Flavor access already exists for flavor %s and project %s combination.", id, project)
		}
	} else {
		err = a.st.Flavors().RemoveAccess(ctx, id, project)
	}
	if err != nil {
		return nil, err
	}
	return a.st.Flavors().ListAccess(ctx, id)
}

// SetExtraSpecs merges extra specs into a flavor (admin).
func (a *API) SetExtraSpecs(ctx context.Context, id, rule string, specs map[string]string) (map[string]string, error) {
	if _, err := a.authorize(ctx, rule, Target{}); err != nil {
		return nil, err
	}
	return a.st.Flavors().SetExtraSpecs(ctx, id, specs)
}

// DeleteExtraSpec removes one extra spec (admin).
func (a *API) DeleteExtraSpec(ctx context.Context, id, key string) error {
	if _, err := a.authorize(ctx, RuleExtraSpecsDelete, Target{}); err != nil {
		return err
	}
	return a.st.Flavors().DeleteExtraSpec(ctx, id, key)
}

// ---- quotas and limits ----

// QuotaItem is one quota's limit, usage and reservation (detail view).
type QuotaItem struct {
	Limit    int `json:"limit"`
	InUse    int `json:"in_use"`
	Reserved int `json:"reserved"`
}

// QuotaUsage returns the limits and the usage of a project (the caller's
// when project is empty). Another project needs RuleLimitsOtherProject
// (for limits) or admin through rule.
func (a *API) QuotaUsage(ctx context.Context, project, userID, rule string) (limits, used map[string]int, err error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, nil, err
	}
	if project == "" {
		project = c.ProjectID
	}
	if err := a.policy.Authorize(ctx, c, rule, Target{ProjectID: project, UserID: userID}); err != nil {
		return nil, nil, err
	}
	limits, err = a.st.Quotas().Limits(ctx, project, userID)
	if err != nil {
		return nil, nil, err
	}
	used, err = a.usage(ctx, project)
	if err != nil {
		return nil, nil, err
	}
	kp := c.UserID
	if userID != "" {
		kp = userID
	}
	if n, err := a.st.KeyPairs().Count(ctx, kp); err == nil {
		used[compute.QuotaKeyPairs] = n
	}
	return limits, used, nil
}

// QuotaDefaults returns the default quotas.
func (a *API) QuotaDefaults(ctx context.Context) (map[string]int, error) {
	if _, err := a.authorize(ctx, RuleQuotaDefaults, Target{}); err != nil {
		return nil, err
	}
	return compute.DefaultQuotas(), nil
}

// UpdateQuotas sets quota limits for a project (or a user in it) and
// returns the limits now in force. Unless force, a limit below the
// current usage is refused (400), as Nova does.
func (a *API) UpdateQuotas(ctx context.Context, project, userID string, set map[string]int, force bool) (map[string]int, error) {
	if _, err := a.authorize(ctx, RuleQuotaUpdate, Target{ProjectID: project}); err != nil {
		return nil, err
	}
	if !force {
		used, err := a.usage(ctx, project)
		if err != nil {
			return nil, err
		}
		keys := make([]string, 0, len(set))
		for k := range set {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if v := set[k]; v >= 0 && v < used[k] {
				return nil, badRequest("Quota limit %d for %s must be greater than or equal to already used and reserved %d.", v, k, used[k])
			}
		}
	}
	for k, v := range set {
		if err := a.st.Quotas().Set(ctx, project, userID, k, v); err != nil {
			return nil, err
		}
	}
	return a.st.Quotas().Limits(ctx, project, userID)
}

// DeleteQuotas reverts a project's (or user's) quotas to the defaults.
func (a *API) DeleteQuotas(ctx context.Context, project, userID string) error {
	if _, err := a.authorize(ctx, RuleQuotaDelete, Target{ProjectID: project}); err != nil {
		return err
	}
	if userID != "" {
		return a.st.Quotas().DeleteUser(ctx, project, userID)
	}
	return a.st.Quotas().DeleteProject(ctx, project)
}

// ---- server groups ----

// CreateServerGroup creates a server group in the caller's project,
// within the server_groups quota.
func (a *API) CreateServerGroup(ctx context.Context, g *compute.ServerGroup) (*compute.ServerGroup, error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if err := a.policy.Authorize(ctx, c, RuleServerGroupsCreate, Target{ProjectID: c.ProjectID, UserID: c.UserID}); err != nil {
		return nil, err
	}
	if err := g.Validate(); err != nil {
		return nil, err
	}
	limits, used, err := a.QuotaUsage(ctx, c.ProjectID, "", RuleServerGroupsCreate)
	if err != nil {
		return nil, err
	}
	if lim := limits[compute.QuotaServerGroups]; lim >= 0 && used[compute.QuotaServerGroups]+1 > lim {
		return nil, &QuotaError{Message: "Quota exceeded, too many server groups."}
	}
	g.ProjectID, g.UserID = c.ProjectID, c.UserID
	return a.st.ServerGroups().Create(ctx, g)
}

// GetServerGroup returns a server group the caller may see.
func (a *API) GetServerGroup(ctx context.Context, id string) (*compute.ServerGroup, error) {
	return a.serverGroup(ctx, id, RuleServerGroupsShow)
}

func (a *API) serverGroup(ctx context.Context, id, rule string) (*compute.ServerGroup, error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	g, err := a.st.ServerGroups().Get(ctx, id)
	if errors.Is(err, compute.ErrNotFound) || (err == nil && !c.IsAdmin() && g.ProjectID != c.ProjectID) {
		return nil, compute.NotFound("Instance group", id)
	}
	if err != nil {
		return nil, err
	}
	if err := a.policy.Authorize(ctx, c, rule, Target{ProjectID: g.ProjectID, UserID: g.UserID}); err != nil {
		return nil, err
	}
	return g, nil
}

// DeleteServerGroup deletes a server group.
func (a *API) DeleteServerGroup(ctx context.Context, id string) error {
	g, err := a.serverGroup(ctx, id, RuleServerGroupsDelete)
	if err != nil {
		return err
	}
	return a.st.ServerGroups().Delete(ctx, g.UUID)
}

// ListServerGroups lists the caller's project's groups, or all projects'
// (allProjects, admin).
func (a *API) ListServerGroups(ctx context.Context, allProjects bool, limit, offset int) ([]*compute.ServerGroup, error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if err := a.policy.Authorize(ctx, c, RuleServerGroupsIndex, Target{ProjectID: c.ProjectID, UserID: c.UserID}); err != nil {
		return nil, err
	}
	project := c.ProjectID
	if allProjects && a.Can(ctx, RuleServerGroupsIndexAll, Target{}) {
		project = ""
	}
	if limit <= 0 || limit > a.maxLimit {
		limit = a.maxLimit
	}
	return a.st.ServerGroups().List(ctx, project, limit, offset)
}

// ---- services, hypervisors, zones, aggregates ----

// ListServices lists services (admin).
func (a *API) ListServices(ctx context.Context, f store.ServiceFilter) ([]*compute.Service, error) {
	if _, err := a.authorize(ctx, RuleServicesList, Target{}); err != nil {
		return nil, err
	}
	return a.st.Services().List(ctx, f)
}

// UpdateService enables, disables or forces down a service (admin).
// Enabling clears the disabled reason.
func (a *API) UpdateService(ctx context.Context, svc *compute.Service, u store.ServiceUpdate) (*compute.Service, error) {
	if _, err := a.authorize(ctx, RuleServicesUpdate, Target{}); err != nil {
		return nil, err
	}
	if u.Disabled != nil && !*u.Disabled && u.DisabledReason == nil {
		u.DisabledReason = compute.Ptr("")
	}
	return a.st.Services().Update(ctx, svc.UUID, u)
}

// DeleteService removes a service (admin). A compute service with
// instances on its host is refused (409); its compute nodes go with it.
func (a *API) DeleteService(ctx context.Context, svc *compute.Service) error {
	if _, err := a.authorize(ctx, RuleServicesDelete, Target{}); err != nil {
		return err
	}
	if svc.Binary == "nova-compute" {
		insts, err := a.st.Instances().List(ctx, compute.InstanceFilter{Host: svc.Host}, compute.ListOptions{Limit: 1})
		if err != nil {
			return err
		}
		if len(insts) > 0 {
			return conflict("Unable to delete compute service that is hosting instances. Migrate or delete the instances first.")
		}
		nodes, err := a.st.ComputeNodes().List(ctx, store.ComputeNodeFilter{Host: svc.Host}, compute.ListOptions{})
		if err != nil {
			return err
		}
		for _, n := range nodes {
			if err := a.st.ComputeNodes().Delete(ctx, n.UUID); err != nil && !errors.Is(err, compute.ErrNotFound) {
				return err
			}
		}
	}
	return a.st.Services().Delete(ctx, svc.UUID)
}

// Authorize checks rule for target against the caller of ctx.
func (a *API) Authorize(ctx context.Context, rule string, target Target) error {
	_, err := a.authorize(ctx, rule, target)
	return err
}

// ListInstanceActions lists a server's actions (deleted servers too).
func (a *API) ListInstanceActions(ctx context.Context, id string, f store.ActionFilter, opts compute.ListOptions) ([]*compute.InstanceAction, error) {
	inst, err := a.GetServerWithDeleted(ctx, id, RuleActionsList)
	if err != nil {
		return nil, err
	}
	if opts.Limit <= 0 || opts.Limit > a.maxLimit {
		opts.Limit = a.maxLimit
	}
	return a.st.InstanceActions().List(ctx, inst.UUID, f, opts)
}

// GetInstanceAction returns one action with its events.
func (a *API) GetInstanceAction(ctx context.Context, id, requestID string) (*compute.InstanceAction, error) {
	inst, err := a.GetServerWithDeleted(ctx, id, RuleActionsShow)
	if err != nil {
		return nil, err
	}
	act, err := a.st.InstanceActions().Get(ctx, inst.UUID, requestID)
	if errors.Is(err, compute.ErrNotFound) {
		return nil, compute.NotFound("Action", fmt.Sprintf("for request_id %s on instance %s", requestID, inst.UUID))
	}
	return act, err
}
