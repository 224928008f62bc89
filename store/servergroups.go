package store

import (
	"context"
	"maps"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/store/internal/ent"
	"github.com/novakit/novakit/store/internal/ent/servergroup"
	"github.com/novakit/novakit/store/internal/ent/servergroupmember"
)

// ServerGroups is the store's view of server groups and their members.
// An instance is a member of at most one group. Get one with
// [Store.ServerGroups]; it is a small value, safe for concurrent use by
// many goroutines and processes.
type ServerGroups struct{ s *Store }

// ServerGroups returns the server group repository.
func (s *Store) ServerGroups() ServerGroups { return ServerGroups{s} }

// Create stores a server group with its members (if any) in one
// transaction and returns it as stored (ID and CreatedAt set; an empty
// UUID gets a new one; Hosts is not stored). The policy and rules are
// checked by g.Validate; Name and ProjectID are required and the UUIDs
// must be UUIDs, else a *compute.InvalidInputError names the field. A
// UUID that exists gives a *compute.DuplicateError; a member already in
// another group a conflict (errors.Is compute.ErrConflict) and nothing
// is stored.
func (r ServerGroups) Create(ctx context.Context, g *compute.ServerGroup) (*compute.ServerGroup, error) {
	if g == nil {
		return nil, compute.InvalidInput("server_group", "is required")
	}
	if err := g.Validate(); err != nil {
		return nil, err
	}
	id, err := uuidField("uuid", g.UUID, true)
	if err != nil {
		return nil, err
	}
	if err := required("name", g.Name); err != nil {
		return nil, err
	}
	if err := required("project_id", g.ProjectID); err != nil {
		return nil, err
	}
	if err := checkMembers(g.Members); err != nil {
		return nil, err
	}
	var out *compute.ServerGroup
	err = r.s.withTx(ctx, func(tx *ent.Tx) error {
		c := tx.ServerGroup.Create().SetUUID(id).SetName(g.Name).SetProjectID(g.ProjectID).
			SetUserID(g.UserID).SetPolicy(g.Policy).SetCreatedAt(r.s.ts())
		if len(g.Rules) > 0 {
			c.SetRules(maps.Clone(g.Rules))
		}
		row, err := c.Save(ctx)
		if err != nil {
			return r.s.classify(err, "server group", id)
		}
		if err := r.addMembers(ctx, tx, row, g.Members); err != nil {
			return err
		}
		out, err = r.load(ctx, tx.Client(), id)
		return err
	})
	return out, err
}

func checkMembers(members []string) error {
	for _, m := range members {
		if !isUUID(m) {
			return compute.InvalidInput("members", "%q is not a UUID", m)
		}
	}
	return nil
}

// addMembers adds the instances not yet in the group; the group's row
// must be locked (or new) in tx.
func (r ServerGroups) addMembers(ctx context.Context, tx *ent.Tx, g *ent.ServerGroup, members []string) error {
	if len(members) == 0 {
		return nil
	}
	existing, err := tx.ServerGroupMember.Query().
		Where(servergroupmember.InstanceUUIDIn(members...)).WithGroup().All(ctx)
	if err != nil {
		return r.s.classify(err, "server group members", g.UUID)
	}
	have := map[string]bool{}
	for _, m := range existing {
		if m.GroupID != g.ID {
			other := ""
			if m.Edges.Group != nil {
				other = m.Edges.Group.UUID
			}
			return conflict("instance", m.InstanceUUID, "already in server group %s", other)
		}
		have[m.InstanceUUID] = true
	}
	var bulk []*ent.ServerGroupMemberCreate
	for _, m := range members {
		if have[m] {
			continue
		}
		have[m] = true
		bulk = append(bulk, tx.ServerGroupMember.Create().SetGroupID(g.ID).SetInstanceUUID(m))
	}
	if len(bulk) == 0 {
		return nil
	}
	// A concurrent add of one of these instances to another group ends
	// here as a unique violation: a DuplicateError, also a conflict.
	return r.s.classify(tx.ServerGroupMember.CreateBulk(bulk...).Exec(ctx), "server group member", g.UUID)
}

// Get returns the server group with the UUID and its members, or an
// error satisfying errors.Is(err, compute.ErrNotFound).
func (r ServerGroups) Get(ctx context.Context, uuid string) (*compute.ServerGroup, error) {
	return r.load(ctx, r.s.r, uuid)
}

func (r ServerGroups) load(ctx context.Context, c *ent.Client, uuid string) (*compute.ServerGroup, error) {
	row, err := c.ServerGroup.Query().Where(servergroup.UUID(uuid)).WithMembers(orderMembers).Only(ctx)
	if err != nil {
		return nil, r.s.classify(err, "server group", uuid)
	}
	return toServerGroup(row), nil
}

func orderMembers(q *ent.ServerGroupMemberQuery) { q.Order(ent.Asc(servergroupmember.FieldID)) }

// List returns server groups with their members in creation order: the
// project's, or every project's when projectID is empty (the API's
// all_projects), skipping offset groups and returning at most limit (0:
// no limit), as GET /os-server-groups pages them. A negative limit or
// offset gives a *compute.InvalidInputError.
func (r ServerGroups) List(ctx context.Context, projectID string, limit, offset int) ([]*compute.ServerGroup, error) {
	if limit < 0 {
		return nil, compute.InvalidInput("limit", "must be 0 or more")
	}
	if offset < 0 {
		return nil, compute.InvalidInput("offset", "must be 0 or more")
	}
	q := r.s.r.ServerGroup.Query()
	if projectID != "" {
		q = q.Where(servergroup.ProjectID(projectID))
	}
	q = q.Order(ent.Asc(servergroup.FieldID)).WithMembers(orderMembers)
	if offset > 0 {
		q = q.Offset(offset)
		if limit == 0 {
			// MySQL and SQLite need a LIMIT for an OFFSET.
			limit = 1<<31 - 1
		}
	}
	if limit > 0 {
		q = q.Limit(limit)
	}
	rows, err := q.All(ctx)
	if err != nil {
		return nil, r.s.classify(err, "server groups", projectID)
	}
	out := make([]*compute.ServerGroup, len(rows))
	for i, row := range rows {
		out[i] = toServerGroup(row)
	}
	return out, nil
}

// Delete removes the server group and its memberships in one
// transaction. A missing group gives ErrNotFound.
func (r ServerGroups) Delete(ctx context.Context, uuid string) error {
	return r.s.withTx(ctx, func(tx *ent.Tx) error {
		g, err := lockRows(r.s, tx.ServerGroup.Query().Where(servergroup.UUID(uuid))).Only(ctx)
		if err != nil {
			return r.s.classify(err, "server group", uuid)
		}
		if _, err := tx.ServerGroupMember.Delete().Where(servergroupmember.GroupID(g.ID)).Exec(ctx); err != nil {
			return r.s.classify(err, "server group members", uuid)
		}
		return r.s.classify(tx.ServerGroup.DeleteOne(g).Exec(ctx), "server group", uuid)
	})
}

// AddMembers adds instances to the group in one transaction and returns
// the group as stored. Instances already in this group are skipped
// (idempotent); an instance in another group gives a conflict
// (errors.Is compute.ErrConflict) and adds none. A missing group gives
// ErrNotFound; an instance uuid that is not a UUID a
// *compute.InvalidInputError naming "members". Quotas
// (server_group_members) are the caller's.
func (r ServerGroups) AddMembers(ctx context.Context, uuid string, instanceUUIDs ...string) (*compute.ServerGroup, error) {
	if err := checkMembers(instanceUUIDs); err != nil {
		return nil, err
	}
	var out *compute.ServerGroup
	err := r.s.withTx(ctx, func(tx *ent.Tx) error {
		g, err := lockRows(r.s, tx.ServerGroup.Query().Where(servergroup.UUID(uuid))).Only(ctx)
		if err != nil {
			return r.s.classify(err, "server group", uuid)
		}
		if err := r.addMembers(ctx, tx, g, instanceUUIDs); err != nil {
			return err
		}
		out, err = r.load(ctx, tx.Client(), uuid)
		return err
	})
	return out, err
}

// RemoveMember takes the instance out of whatever group it is in.
// Removing an instance that is in no group is not an error: instance
// deletion calls it unconditionally, as Nova does.
func (r ServerGroups) RemoveMember(ctx context.Context, instanceUUID string) error {
	_, err := r.s.w.ServerGroupMember.Delete().Where(servergroupmember.InstanceUUID(instanceUUID)).Exec(ctx)
	return r.s.classify(err, "server group member", instanceUUID)
}

// GetByInstance returns the group the instance is a member of, with its
// members, or ErrNotFound when it is in none.
func (r ServerGroups) GetByInstance(ctx context.Context, instanceUUID string) (*compute.ServerGroup, error) {
	row, err := r.s.r.ServerGroup.Query().
		Where(servergroup.HasMembersWith(servergroupmember.InstanceUUID(instanceUUID))).
		WithMembers(orderMembers).Only(ctx)
	if err != nil {
		return nil, r.s.classify(err, "server group of instance", instanceUUID)
	}
	return toServerGroup(row), nil
}

func toServerGroup(e *ent.ServerGroup) *compute.ServerGroup {
	g := &compute.ServerGroup{
		ID: int64(e.ID), UUID: e.UUID, Name: e.Name, ProjectID: e.ProjectID, UserID: e.UserID,
		Policy: e.Policy, Rules: nilIfEmpty(e.Rules), CreatedAt: e.CreatedAt.UTC(),
	}
	for _, m := range e.Edges.Members {
		g.Members = append(g.Members, m.InstanceUUID)
	}
	return g
}
