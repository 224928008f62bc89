package store

import (
	"context"
	"slices"
	"strconv"
	"time"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/store/internal/ent"
	"github.com/novakit/novakit/store/internal/ent/migration"
	"github.com/novakit/novakit/store/internal/ent/predicate"
)

// Migrations is the store's view of migration records: resizes,
// cold and live migrations and evacuations of instances (Nova's
// migrations table; not to be confused with [Store.SchemaMigrations]).
// Get one with [Store.Migrations]; it is a small value,
// safe for concurrent use by many goroutines and processes.
type Migrations struct{ s *Store }

// Migrations returns the migration record repository.
func (s *Store) Migrations() Migrations { return Migrations{s} }

// MigrationFilter selects migrations for [Migrations.List]. Zero
// fields do not filter; all given fields must match. It follows the
// filters of GET /os-migrations.
type MigrationFilter struct {
	InstanceUUID string
	// Host keeps migrations from or to the host (source or destination
	// compute).
	Host          string
	SourceCompute string
	// Status keeps migrations in any of the statuses.
	Status        []string
	MigrationType string
	Hidden        *bool
	ProjectID     string
	UserID        string
	// ChangesSince and ChangesBefore keep migrations updated at or after,
	// and at or before, the times.
	ChangesSince  time.Time
	ChangesBefore time.Time
}

// MigrationUpdate is a partial update of a migration; nil fields are left
// as they are. When ExpectedStatuses is non-nil the update is a
// compare-and-swap: it applies only if the stored status is one of them.
type MigrationUpdate struct {
	ExpectedStatuses []string

	Status        *string
	SourceCompute *string
	SourceNode    *string
	DestCompute   *string
	DestNode      *string
	DestHost      *string
	OldFlavorID   *string
	NewFlavorID   *string
	Hidden        *bool

	MemoryTotal     *int64
	MemoryProcessed *int64
	MemoryRemaining *int64
	DiskTotal       *int64
	DiskProcessed   *int64
	DiskRemaining   *int64
}

// finishedMigrationStatuses are the statuses of migrations that hold no
// resources any more (Nova's migration_get_in_progress_by_host_and_node).
var finishedMigrationStatuses = []string{
	compute.MigrationConfirmed, compute.MigrationReverted, compute.MigrationError,
	compute.MigrationFailed, compute.MigrationCompleted, compute.MigrationCancelled,
	compute.MigrationDone,
}

var migrationTypes = []string{
	compute.MigrationTypeMigration, compute.MigrationTypeResize,
	compute.MigrationTypeLive, compute.MigrationTypeEvacuate,
}

// Create stores a migration and returns it as stored (ID, CreatedAt and
// UpdatedAt set; an empty UUID gets a new one). InstanceUUID and UUID
// must be UUIDs, MigrationType one of the compute.MigrationType*
// constants and Status non-empty, else a *compute.InvalidInputError
// names the field. A UUID that exists gives a *compute.DuplicateError.
func (r Migrations) Create(ctx context.Context, m *compute.Migration) (*compute.Migration, error) {
	if m == nil {
		return nil, compute.InvalidInput("migration", "is required")
	}
	id, err := uuidField("uuid", m.UUID, true)
	if err != nil {
		return nil, err
	}
	if _, err := uuidField("instance_uuid", m.InstanceUUID, false); err != nil {
		return nil, err
	}
	if !slices.Contains(migrationTypes, m.MigrationType) {
		return nil, compute.InvalidInput("migration_type", "%q is not one of %v", m.MigrationType, migrationTypes)
	}
	if err := required("status", m.Status); err != nil {
		return nil, err
	}
	now := r.s.ts()
	row, err := r.s.w.Migration.Create().SetUUID(id).SetInstanceUUID(m.InstanceUUID).
		SetMigrationType(m.MigrationType).SetStatus(m.Status).
		SetSourceCompute(m.SourceCompute).SetSourceNode(m.SourceNode).
		SetDestCompute(m.DestCompute).SetDestNode(m.DestNode).SetDestHost(m.DestHost).
		SetOldFlavorID(m.OldFlavorID).SetNewFlavorID(m.NewFlavorID).SetHidden(m.Hidden).
		SetUserID(m.UserID).SetProjectID(m.ProjectID).
		SetMemoryTotal(m.MemoryTotal).SetMemoryProcessed(m.MemoryProcessed).SetMemoryRemaining(m.MemoryRemaining).
		SetDiskTotal(m.DiskTotal).SetDiskProcessed(m.DiskProcessed).SetDiskRemaining(m.DiskRemaining).
		SetCreatedAt(now).SetUpdatedAt(now).Save(ctx)
	if err != nil {
		return nil, r.s.classify(err, "migration", id)
	}
	return toMigration(row), nil
}

// Get returns the migration with the UUID, or an error satisfying
// errors.Is(err, compute.ErrNotFound).
func (r Migrations) Get(ctx context.Context, uuid string) (*compute.Migration, error) {
	row, err := r.s.r.Migration.Query().Where(migration.UUID(uuid)).Only(ctx)
	if err != nil {
		return nil, r.s.classify(err, "migration", uuid)
	}
	return toMigration(row), nil
}

// GetByID returns the migration with the row id (the API's integer
// migration id), or ErrNotFound.
func (r Migrations) GetByID(ctx context.Context, id int64) (*compute.Migration, error) {
	row, err := r.s.r.Migration.Get(ctx, int(id))
	if err != nil {
		return nil, r.s.classify(err, "migration", strconv.FormatInt(id, 10))
	}
	return toMigration(row), nil
}

// Update applies u to the migration as one compare-and-swap and returns
// it as stored; UpdatedAt becomes now. When u.ExpectedStatuses is non-nil
// and the stored status is none of them, nothing is written and the error
// is a *ConflictError (errors.Is compute.ErrConflict) naming the status
// found: of two racing writers expecting the same status exactly one
// wins, in any number of processes. A missing migration gives
// ErrNotFound; an empty Status or a negative progress count a
// *compute.InvalidInputError.
func (r Migrations) Update(ctx context.Context, uuid string, u MigrationUpdate) (*compute.Migration, error) {
	if u.Status != nil {
		if err := required("status", *u.Status); err != nil {
			return nil, err
		}
	}
	for _, c := range []struct {
		field string
		p     *int64
	}{
		{"memory_total_bytes", u.MemoryTotal}, {"memory_processed_bytes", u.MemoryProcessed},
		{"memory_remaining_bytes", u.MemoryRemaining}, {"disk_total_bytes", u.DiskTotal},
		{"disk_processed_bytes", u.DiskProcessed}, {"disk_remaining_bytes", u.DiskRemaining},
	} {
		if c.p != nil && *c.p < 0 {
			return nil, compute.InvalidInput(c.field, "must be 0 or more")
		}
	}
	var out *compute.Migration
	err := r.s.withTx(ctx, func(tx *ent.Tx) error {
		cur, err := lockRows(r.s, tx.Migration.Query().Where(migration.UUID(uuid))).Only(ctx)
		if err != nil {
			return r.s.classify(err, "migration", uuid)
		}
		if u.ExpectedStatuses != nil && !slices.Contains(u.ExpectedStatuses, cur.Status) {
			return conflict("migration", uuid, "status is %q, expected one of %q", cur.Status, u.ExpectedStatuses)
		}
		up := tx.Migration.UpdateOneID(cur.ID).SetUpdatedAt(r.s.ts())
		m := up.Mutation()
		setStr := func(p *string, f func(string)) {
			if p != nil {
				f(*p)
			}
		}
		setStr(u.Status, m.SetStatus)
		setStr(u.SourceCompute, m.SetSourceCompute)
		setStr(u.SourceNode, m.SetSourceNode)
		setStr(u.DestCompute, m.SetDestCompute)
		setStr(u.DestNode, m.SetDestNode)
		setStr(u.DestHost, m.SetDestHost)
		setStr(u.OldFlavorID, m.SetOldFlavorID)
		setStr(u.NewFlavorID, m.SetNewFlavorID)
		if u.Hidden != nil {
			m.SetHidden(*u.Hidden)
		}
		for _, c := range []struct {
			p   *int64
			set func(int64)
		}{
			{u.MemoryTotal, m.SetMemoryTotal}, {u.MemoryProcessed, m.SetMemoryProcessed},
			{u.MemoryRemaining, m.SetMemoryRemaining}, {u.DiskTotal, m.SetDiskTotal},
			{u.DiskProcessed, m.SetDiskProcessed}, {u.DiskRemaining, m.SetDiskRemaining},
		} {
			if c.p != nil {
				c.set(*c.p)
			}
		}
		row, err := up.Save(ctx)
		if err != nil {
			return r.s.classify(err, "migration", uuid)
		}
		out = toMigration(row)
		return nil
	})
	return out, err
}

// List returns the migrations that match the filter, newest first (by
// created_at, then row id), as GET /os-migrations lists them, paged by
// opts.Limit and opts.Marker (a migration UUID; an unknown one gives a
// *compute.MarkerNotFoundError). opts.Sort is refused with a
// *compute.InvalidInputError.
func (r Migrations) List(ctx context.Context, f MigrationFilter, opts compute.ListOptions) ([]*compute.Migration, error) {
	if err := checkPage(opts, "migrations"); err != nil {
		return nil, err
	}
	var preds []predicate.Migration
	eq := func(v string, p func(string) predicate.Migration) {
		if v != "" {
			preds = append(preds, p(v))
		}
	}
	eq(f.InstanceUUID, migration.InstanceUUID)
	eq(f.SourceCompute, migration.SourceCompute)
	eq(f.MigrationType, migration.MigrationType)
	eq(f.ProjectID, migration.ProjectID)
	eq(f.UserID, migration.UserID)
	if f.Host != "" {
		preds = append(preds, migration.Or(migration.SourceCompute(f.Host), migration.DestCompute(f.Host)))
	}
	if f.Status != nil {
		preds = append(preds, migration.StatusIn(f.Status...))
	}
	if f.Hidden != nil {
		preds = append(preds, migration.Hidden(*f.Hidden))
	}
	if !f.ChangesSince.IsZero() {
		preds = append(preds, migration.UpdatedAtGTE(norm(f.ChangesSince)))
	}
	if !f.ChangesBefore.IsZero() {
		preds = append(preds, migration.UpdatedAtLTE(norm(f.ChangesBefore)))
	}
	keys := []keyCol{{col: migration.FieldCreatedAt, desc: true}, {col: migration.FieldID, desc: true}}
	if opts.Marker != "" {
		m, err := r.s.r.Migration.Query().Where(migration.UUID(opts.Marker)).Only(ctx)
		if ent.IsNotFound(err) {
			return nil, &compute.MarkerNotFoundError{Marker: opts.Marker}
		}
		if err != nil {
			return nil, r.s.classify(err, "migration", opts.Marker)
		}
		keys[0].val, keys[1].val = m.CreatedAt, m.ID
		preds = append(preds, afterKeys(keys))
	}
	q := r.s.r.Migration.Query().Where(preds...).Order(orderKeys(keys))
	if opts.Limit > 0 {
		q = q.Limit(opts.Limit)
	}
	return r.all(ctx, q)
}

// InProgressForHost returns the migrations from or to the host that
// still hold resources there, i.e. whose status is not one of confirmed,
// reverted, error, failed, completed, cancelled, done, oldest first: what
// the resource tracker counts besides the instances on the host. A
// non-empty node narrows it to migrations from or to that node of the
// host.
func (r Migrations) InProgressForHost(ctx context.Context, host, node string) ([]*compute.Migration, error) {
	src := []predicate.Migration{migration.SourceCompute(host)}
	dst := []predicate.Migration{migration.DestCompute(host)}
	if node != "" {
		src = append(src, migration.SourceNode(node))
		dst = append(dst, migration.DestNode(node))
	}
	q := r.s.r.Migration.Query().Where(
		migration.Or(migration.And(src...), migration.And(dst...)),
		migration.StatusNotIn(finishedMigrationStatuses...),
	).Order(ent.Asc(migration.FieldID))
	return r.all(ctx, q)
}

func (r Migrations) all(ctx context.Context, q *ent.MigrationQuery) ([]*compute.Migration, error) {
	rows, err := q.All(ctx)
	if err != nil {
		return nil, r.s.classify(err, "migrations", "list")
	}
	out := make([]*compute.Migration, len(rows))
	for i, row := range rows {
		out[i] = toMigration(row)
	}
	return out, nil
}

func toMigration(e *ent.Migration) *compute.Migration {
	return &compute.Migration{
		ID: int64(e.ID), UUID: e.UUID, InstanceUUID: e.InstanceUUID, MigrationType: e.MigrationType,
		Status: e.Status, SourceCompute: e.SourceCompute, SourceNode: e.SourceNode,
		DestCompute: e.DestCompute, DestNode: e.DestNode, DestHost: e.DestHost,
		OldFlavorID: e.OldFlavorID, NewFlavorID: e.NewFlavorID, Hidden: e.Hidden,
		UserID: e.UserID, ProjectID: e.ProjectID,
		MemoryTotal: e.MemoryTotal, MemoryProcessed: e.MemoryProcessed, MemoryRemaining: e.MemoryRemaining,
		DiskTotal: e.DiskTotal, DiskProcessed: e.DiskProcessed, DiskRemaining: e.DiskRemaining,
		CreatedAt: e.CreatedAt.UTC(), UpdatedAt: e.UpdatedAt.UTC(),
	}
}
