package store

import (
	"context"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/store/internal/ent/quota"
)

// Quotas is the store's view of quota limits: per project, and per user
// within a project, over Nova's defaults (compute.DefaultQuotas). Usage
// is not stored; it is counted from the records (counting quotas, as
// Nova does). Get one with [Store.Quotas]; it is a small value, safe for
// concurrent use.
type Quotas struct{ s *Store }

// Quotas returns the quota repository.
func (s *Store) Quotas() Quotas { return Quotas{s} }

// Limits returns the limits that apply to the project, or to the user in
// it when userID is not empty: Nova's defaults, overlaid by the limits
// set for the project, overlaid by those set for the user. -1 means
// unlimited. The map is the caller's. An empty projectID gives a
// *compute.InvalidInputError naming "project_id".
func (r Quotas) Limits(ctx context.Context, projectID, userID string) (map[string]int, error) {
	if err := required("project_id", projectID); err != nil {
		return nil, err
	}
	users := []string{""}
	if userID != "" {
		users = append(users, userID)
	}
	rows, err := r.s.r.Quota.Query().Where(quota.ProjectID(projectID), quota.UserIDIn(users...)).All(ctx)
	if err != nil {
		return nil, r.s.classify(err, "quotas", projectID)
	}
	out := compute.DefaultQuotas()
	for _, pass := range users {
		for _, q := range rows {
			if q.UserID != pass {
				continue
			}
			if _, known := out[q.Resource]; known {
				out[q.Resource] = q.HardLimit
			}
		}
	}
	return out, nil
}

// Set sets the limit of one resource for the project (userID empty) or
// for one user in it, replacing any limit set before, in one statement
// (an upsert). Idempotent. A resource that is not one of
// compute.DefaultQuotas' keys, or a limit below -1, gives a
// *compute.InvalidInputError whose Field is the resource (the key of the
// API's quota_set); an empty projectID one naming "project_id". Checking
// a user's limit against the project's is the caller's.
func (r Quotas) Set(ctx context.Context, projectID, userID, resource string, limit int) error {
	if err := required("project_id", projectID); err != nil {
		return err
	}
	if err := maxLen("user_id", userID, maxName); err != nil {
		return err
	}
	if _, known := compute.DefaultQuotas()[resource]; !known {
		return compute.InvalidInput(resource, "%q is not a quota resource", resource)
	}
	if limit < -1 {
		return compute.InvalidInput(resource, "limit %d must be -1 (unlimited) or more", limit)
	}
	err := r.s.w.Quota.Create().SetProjectID(projectID).SetUserID(userID).SetResource(resource).
		SetHardLimit(limit).
		OnConflictColumns(quota.FieldProjectID, quota.FieldUserID, quota.FieldResource).
		UpdateHardLimit().Exec(ctx)
	return r.s.classify(err, "quota", projectID+"/"+resource)
}

// DeleteProject removes every limit set for the project and its users,
// so that the defaults apply again (DELETE /os-quota-sets/{project}).
// Idempotent.
func (r Quotas) DeleteProject(ctx context.Context, projectID string) error {
	_, err := r.s.w.Quota.Delete().Where(quota.ProjectID(projectID)).Exec(ctx)
	return r.s.classify(err, "quotas", projectID)
}

// DeleteUser removes the limits set for one user in the project, so that
// the project's apply to the user again (DELETE
// /os-quota-sets/{project}?user_id=). Idempotent. An empty userID gives
// a *compute.InvalidInputError naming "user_id".
func (r Quotas) DeleteUser(ctx context.Context, projectID, userID string) error {
	if err := required("user_id", userID); err != nil {
		return err
	}
	_, err := r.s.w.Quota.Delete().Where(quota.ProjectID(projectID), quota.UserID(userID)).Exec(ctx)
	return r.s.classify(err, "quotas", projectID+"/"+userID)
}
