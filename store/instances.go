package store

import (
	"context"
	"database/sql"
	"regexp"
	"slices"
	"time"

	entsql "entgo.io/ent/dialect/sql"
	"github.com/google/uuid"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/store/internal/ent"
	"github.com/novakit/novakit/store/internal/ent/instance"
	"github.com/novakit/novakit/store/internal/ent/instancetag"
	"github.com/novakit/novakit/store/internal/ent/predicate"
)

// Instances is the store's view of instances. Get one with
// [Store.Instances]; it is a small value, safe for concurrent use.
type Instances struct{ s *Store }

// Instances returns the instance repository.
func (s *Store) Instances() Instances { return Instances{s} }

const maxTagLen = 60

// Create stores a new instance and returns it as stored (with ID,
// CreatedAt and UpdatedAt set). An empty UUID gets a new one; an empty
// VMState becomes building. A UUID that exists gives a
// *compute.DuplicateError; a bad field a *compute.InvalidInputError. The
// instance and its tags are written in one transaction.
func (r Instances) Create(ctx context.Context, in *compute.Instance) (*compute.Instance, error) {
	inst := *in
	if inst.UUID == "" {
		inst.UUID = uuid.NewString()
	}
	if inst.VMState == "" {
		inst.VMState = compute.VMBuilding
	}
	if err := validateInstance(&inst); err != nil {
		return nil, err
	}
	now := r.s.ts()
	if inst.CreatedAt.IsZero() {
		inst.CreatedAt = now
	}
	inst.UpdatedAt = now
	var out *compute.Instance
	err := r.s.withTx(ctx, func(tx *ent.Tx) error {
		c := tx.Instance.Create().
			SetUUID(inst.UUID).SetDisplayName(inst.Name).SetHostname(inst.Hostname).
			SetDescription(inst.Description).SetProjectID(inst.ProjectID).SetUserID(inst.UserID).
			SetImageRef(inst.ImageRef).SetFlavorID(inst.Flavor.FlavorID).
			SetVcpus(inst.Flavor.VCPUs).SetMemoryMB(inst.Flavor.MemoryMB).
			SetRootGB(inst.Flavor.RootGB).SetEphemeralGB(inst.Flavor.EphemeralGB).
			SetFlavor(inst.Flavor).SetVMState(string(inst.VMState)).SetTaskState(string(inst.TaskState)).
			SetPowerState(int(inst.PowerState)).SetHost(inst.Host).SetNode(inst.Node).
			SetAvailabilityZone(inst.AvailabilityZone).SetKeyName(inst.KeyName).SetKeyData(inst.KeyData).
			SetUserData(inst.UserData).SetConfigDrive(inst.ConfigDrive).
			SetAccessIPV4(inst.AccessIPv4).SetAccessIPV6(inst.AccessIPv6).
			SetMetadata(inst.Metadata).SetSystemMetadata(inst.SystemMetadata).
			SetReservationID(inst.ReservationID).SetLaunchIndex(inst.LaunchIndex).
			SetLocked(inst.Locked).SetLockedBy(inst.LockedBy).SetLockedReason(inst.LockedReason).
			SetRootDeviceName(inst.RootDeviceName).SetProgress(inst.Progress).SetDiskConfig(inst.DiskConfig).
			SetCreatedAt(norm(inst.CreatedAt)).SetUpdatedAt(inst.UpdatedAt)
		if tags := normTags(inst.Tags); tags != nil {
			c.SetTagList(tags)
		}
		if inst.OldFlavor != nil {
			c.SetFlavorOld(inst.OldFlavor)
		}
		if inst.NewFlavor != nil {
			c.SetFlavorNew(inst.NewFlavor)
		}
		if inst.DriverHandle != nil {
			c.SetDriverHandle(inst.DriverHandle)
		}
		if !inst.LaunchedAt.IsZero() {
			c.SetLaunchedAt(norm(inst.LaunchedAt))
		}
		if !inst.TerminatedAt.IsZero() {
			c.SetTerminatedAt(norm(inst.TerminatedAt))
		}
		row, err := c.Save(ctx)
		if err != nil {
			return r.s.classify(err, "instance", inst.UUID)
		}
		if err := setTags(ctx, tx, row.ID, inst.Tags); err != nil {
			return r.s.classify(err, "instance tags", inst.UUID)
		}
		out = toInstance(row)
		return nil
	})
	return out, err
}

func validateInstance(in *compute.Instance) error {
	if _, err := uuid.Parse(in.UUID); err != nil {
		return compute.InvalidInput("uuid", "%q is not a UUID", in.UUID)
	}
	if !in.VMState.Valid() {
		return compute.InvalidInput("vm_state", "%q is not a vm_state", in.VMState)
	}
	if !in.TaskState.Valid() {
		return compute.InvalidInput("task_state", "%q is not a task_state", in.TaskState)
	}
	if !in.PowerState.Valid() {
		return compute.InvalidInput("power_state", "%d is not a power state", in.PowerState)
	}
	if len(in.Name) > 255 {
		return compute.InvalidInput("name", "longer than 255 characters")
	}
	return validateTags(in.Tags)
}

func validateTags(tags []string) error {
	for _, t := range tags {
		if t == "" || len(t) > maxTagLen {
			return compute.InvalidInput("tags", "tag %q must be 1 to %d characters", t, maxTagLen)
		}
	}
	return nil
}

func setTags(ctx context.Context, tx *ent.Tx, id int, tags []string) error {
	if _, err := tx.InstanceTag.Delete().Where(instancetag.InstanceID(id)).Exec(ctx); err != nil {
		return err
	}
	if len(tags) == 0 {
		return nil
	}
	seen := map[string]bool{}
	var bulk []*ent.InstanceTagCreate
	for _, t := range tags {
		if seen[t] {
			continue
		}
		seen[t] = true
		bulk = append(bulk, tx.InstanceTag.Create().SetInstanceID(id).SetTag(t))
	}
	return tx.InstanceTag.CreateBulk(bulk...).Exec(ctx)
}

// Get returns the live (not soft-deleted) instance with the UUID, or an
// error satisfying errors.Is(err, compute.ErrNotFound).
func (r Instances) Get(ctx context.Context, id string) (*compute.Instance, error) {
	return r.get(ctx, id, false)
}

// GetWithDeleted returns the instance with the UUID even when it is
// soft-deleted.
func (r Instances) GetWithDeleted(ctx context.Context, id string) (*compute.Instance, error) {
	return r.get(ctx, id, true)
}

func (r Instances) get(ctx context.Context, id string, withDeleted bool) (*compute.Instance, error) {
	var (
		in  *compute.Instance
		err error
	)
	// Reads by uuid go to the reader pool with hand-built SQL (see
	// instances_sql.go); the reader's ent driver caches the statement.
	eq := r.s.rawReader()
	if withDeleted {
		in, err = queryInstance(ctx, eq, r.s.isql.getAny, id)
	} else {
		in, err = queryInstance(ctx, eq, r.s.isql.getLive, id, false)
	}
	if err != nil {
		return nil, r.s.classify(err, "instance", id)
	}
	if in == nil {
		return nil, compute.NotFound("instance", id)
	}
	return in, nil
}

// Update applies u to the live instance with the UUID as one
// compare-and-swap and returns the instance as stored afterwards. When
// u.ExpectedVMStates or u.ExpectedTaskStates is set and the stored
// instance is in none of them, nothing is written and the error is a
// *compute.StateConflictError (errors.Is ErrConflict and
// ErrInvalidState) carrying the actual states. A missing or deleted
// instance gives ErrNotFound. Safe to call concurrently from any number
// of processes: of two racing updates with the same expectation, exactly
// one wins.
func (r Instances) Update(ctx context.Context, id string, u compute.InstanceUpdate) (*compute.Instance, error) {
	return r.update(ctx, id, u, false)
}

// SoftDelete applies u like Update and, in the same compare-and-swap,
// marks the instance deleted: vm_state deleted (unless u sets another),
// no task, power state NOSTATE, terminated_at and deleted_at now. The row
// stays visible to GetWithDeleted and to listings that ask for deleted
// rows until Purge removes it.
func (r Instances) SoftDelete(ctx context.Context, id string, u compute.InstanceUpdate) (*compute.Instance, error) {
	return r.update(ctx, id, u, true)
}

func (r Instances) update(ctx context.Context, id string, u compute.InstanceUpdate, softDelete bool) (*compute.Instance, error) {
	if err := validateUpdate(&u); err != nil {
		return nil, err
	}
	now := r.s.ts()
	ub := entsql.Dialect(entDialect(r.s.dialect)).Update(instance.Table).Set(instance.FieldUpdatedAt, now)
	if err := updateSets(ub, &u); err != nil {
		return nil, compute.InvalidInput("update", "%v", err)
	}
	if softDelete {
		if u.VMState == nil {
			ub.Set(instance.FieldVMState, string(compute.VMDeleted))
		}
		ub.Set(instance.FieldTaskState, "").Set(instance.FieldPowerState, int(compute.PowerNoState)).
			Set(instance.FieldDeleted, true).Set(instance.FieldDeletedAt, now)
		if u.TerminatedAt == nil {
			ub.Set(instance.FieldTerminatedAt, now)
		}
	}
	preds := []*entsql.Predicate{entsql.EQ(instance.FieldUUID, id), entsql.EQ(instance.FieldDeleted, false)}
	if u.ExpectedVMStates != nil {
		preds = append(preds, entsql.In(instance.FieldVMState, anys(strs(u.ExpectedVMStates))...))
	}
	if u.ExpectedTaskStates != nil {
		preds = append(preds, entsql.In(instance.FieldTaskState, anys(strs(u.ExpectedTaskStates))...))
	}
	ub.Where(entsql.And(preds...))
	q, args := ub.Query()
	q += r.s.isql.returning

	// The common case is one statement, atomic by itself: UPDATE …
	// RETURNING without tag rows to rewrite. Tag changes (and MySQL,
	// which has no RETURNING) take a transaction.
	var (
		out *compute.Instance
		n   int64
	)
	if u.Tags == nil && r.s.isql.returning != "" {
		var (
			in  *compute.Instance
			err error
		)
		if r.s.group != nil {
			err = r.s.group.runOne(ctx, r.s.wcache, func(eq execQuerier) error {
				var qerr error
				in, qerr = queryInstance(ctx, eq, q, args...)
				return qerr
			})
		} else {
			in, err = queryInstance(ctx, r.s.rawConn(), q, args...)
		}
		if err != nil {
			return nil, r.s.classify(err, "instance", id)
		}
		out = in
		if in != nil {
			n = 1
		}
	} else {
		in, err := r.updateInTx(ctx, id, q, args, u.Tags)
		if err != nil {
			return nil, err
		}
		out = in
		if in != nil {
			n = 1
		}
	}
	if n == 0 {
		cur, err := r.get(ctx, id, true)
		if err != nil {
			return nil, err
		}
		if cur.Deleted {
			return nil, compute.NotFound("instance", id)
		}
		return nil, &compute.StateConflictError{
			InstanceUUID: id, ExpectedVM: u.ExpectedVMStates, ExpectedTask: u.ExpectedTaskStates,
			ActualVM: cur.VMState, ActualTask: cur.TaskState,
		}
	}
	return out, nil
}

// updateInTx runs the update statement q (of the instance id) in a transaction, rewriting the
// tag rows when tags is not nil, and returns the updated instance (nil
// when the update matched no row).
func (r Instances) updateInTx(ctx context.Context, id, q string, args []any, tags []string) (out *compute.Instance, err error) {
	tx, err := r.s.dbs[0].BeginTx(ctx, nil)
	if err != nil {
		return nil, r.s.classify(err, "instance", "update")
	}
	eq, pending := r.s.rawTx(tx)
	defer func() {
		if err != nil {
			tx.Rollback()
		}
		r.s.preparePending(pending)
	}()
	if r.s.isql.returning != "" {
		out, err = queryInstance(ctx, eq, q, args...)
	} else {
		var res sql.Result
		res, err = eq.ExecContext(ctx, q, args...)
		if err == nil {
			var n int64
			if n, err = res.RowsAffected(); err == nil && n > 0 {
				out, err = queryInstance(ctx, eq, r.s.isql.getAny, id)
			}
		}
	}
	if err != nil {
		return nil, r.s.classify(err, "instance", "update")
	}
	if out == nil {
		return nil, tx.Rollback()
	}
	if tags != nil {
		if err = r.s.rewriteTags(ctx, eq, out.ID, tags); err != nil {
			return nil, r.s.classify(err, "instance tags", out.UUID)
		}
	}
	if err = tx.Commit(); err != nil {
		return nil, r.s.classify(err, "instance", out.UUID)
	}
	return out, nil
}

func validateUpdate(u *compute.InstanceUpdate) error {
	for _, s := range u.ExpectedVMStates {
		if !s.Valid() {
			return compute.InvalidInput("expected_vm_states", "%q is not a vm_state", s)
		}
	}
	for _, s := range u.ExpectedTaskStates {
		if !s.Valid() {
			return compute.InvalidInput("expected_task_states", "%q is not a task_state", s)
		}
	}
	if u.VMState != nil && !u.VMState.Valid() {
		return compute.InvalidInput("vm_state", "%q is not a vm_state", *u.VMState)
	}
	if u.TaskState != nil && !u.TaskState.Valid() {
		return compute.InvalidInput("task_state", "%q is not a task_state", *u.TaskState)
	}
	if u.PowerState != nil && !u.PowerState.Valid() {
		return compute.InvalidInput("power_state", "%d is not a power state", *u.PowerState)
	}
	if u.Name != nil && len(*u.Name) > 255 {
		return compute.InvalidInput("name", "longer than 255 characters")
	}
	return validateTags(u.Tags)
}

// Purge removes soft-deleted instances deleted before the time, with
// their tags, and returns how many it removed (nova-manage db purge).
func (r Instances) Purge(ctx context.Context, deletedBefore time.Time) (int, error) {
	var n int
	err := r.s.withTx(ctx, func(tx *ent.Tx) error {
		ids, err := tx.Instance.Query().
			Where(instance.Deleted(true), instance.DeletedAtLT(norm(deletedBefore))).IDs(ctx)
		if err != nil || len(ids) == 0 {
			return r.s.classify(err, "instances", "purge")
		}
		if _, err := tx.InstanceTag.Delete().Where(instancetag.InstanceIDIn(ids...)).Exec(ctx); err != nil {
			return r.s.classify(err, "instance tags", "purge")
		}
		n, err = tx.Instance.Delete().Where(instance.IDIn(ids...)).Exec(ctx)
		return r.s.classify(err, "instances", "purge")
	})
	return n, err
}

// InstanceUsage is what a project's (or user's) live instances use,
// counted for quotas.
type InstanceUsage struct {
	Instances int
	VCPUs     int
	MemoryMB  int
}

// Usage counts the live instances of a project, or of one user in it
// when userID is not empty, and the vCPUs and RAM their flavors take.
func (r Instances) Usage(ctx context.Context, projectID, userID string) (InstanceUsage, error) {
	q := r.s.r.Instance.Query().Where(instance.ProjectID(projectID), instance.Deleted(false))
	if userID != "" {
		q = q.Where(instance.UserID(userID))
	}
	var v []struct {
		Count int `json:"count"`
		VCPUs int `json:"vcpus"`
		RAM   int `json:"ram"`
	}
	err := q.Aggregate(ent.Count(), ent.As(ent.Sum(instance.FieldVcpus), "vcpus"), ent.As(ent.Sum(instance.FieldMemoryMB), "ram")).Scan(ctx, &v)
	if err != nil {
		return InstanceUsage{}, r.s.classify(err, "instance usage", projectID)
	}
	if len(v) == 0 {
		return InstanceUsage{}, nil
	}
	return InstanceUsage{Instances: v[0].Count, VCPUs: v[0].VCPUs, MemoryMB: v[0].RAM}, nil
}

// sortColumn describes one sortable column: nullable time columns sort
// as if NULL were the zero time, so that keyset paging has a total order.
type sortColumn struct {
	col          string
	nullableTime bool
}

var instanceSortColumns = map[string]sortColumn{
	"created_at": {col: instance.FieldCreatedAt}, "updated_at": {col: instance.FieldUpdatedAt},
	"launched_at": {instance.FieldLaunchedAt, true}, "terminated_at": {instance.FieldTerminatedAt, true},
	"display_name": {col: instance.FieldDisplayName}, "uuid": {col: instance.FieldUUID},
	"id": {col: instance.FieldID}, "vm_state": {col: instance.FieldVMState},
	"task_state": {col: instance.FieldTaskState}, "power_state": {col: instance.FieldPowerState},
	"host": {col: instance.FieldHost}, "node": {col: instance.FieldNode},
	"availability_zone": {col: instance.FieldAvailabilityZone}, "hostname": {col: instance.FieldHostname},
	"project_id": {col: instance.FieldProjectID}, "user_id": {col: instance.FieldUserID},
	"key_name": {col: instance.FieldKeyName}, "image_ref": {col: instance.FieldImageRef},
	"locked": {col: instance.FieldLocked}, "launch_index": {col: instance.FieldLaunchIndex},
	"reservation_id": {col: instance.FieldReservationID}, "progress": {col: instance.FieldProgress},
}

// List returns the instances that match the filter, sorted and paged as
// opts says (newest first by default; see compute.ListOptions). A sort
// key outside compute.InstanceSortKeys or a bad name pattern gives a
// *compute.InvalidInputError naming "sort_key" or "name"; a marker that
// does not exist a *compute.MarkerNotFoundError. Paging is keyset paging
// on the sort keys plus the row id, so it neither skips nor repeats rows
// while others write.
func (r Instances) List(ctx context.Context, f compute.InstanceFilter, opts compute.ListOptions) ([]*compute.Instance, error) {
	keys := opts.Sort
	if len(keys) == 0 {
		keys = []compute.SortKey{{Key: "created_at", Desc: true}}
	}
	cols := make([]sortColumn, 0, len(keys)+1)
	dirs := make([]bool, 0, len(keys)+1)
	hasID := false
	for _, k := range keys {
		c, ok := instanceSortColumns[k.Key]
		if !ok {
			return nil, compute.InvalidInput("sort_key", "%q is not a sort key of servers", k.Key)
		}
		hasID = hasID || k.Key == "id"
		cols = append(cols, c)
		dirs = append(dirs, k.Desc)
	}
	if !hasID {
		// The id breaks ties, in the direction of the first key.
		cols = append(cols, instanceSortColumns["id"])
		dirs = append(dirs, keys[0].Desc)
	}
	preds, err := r.filterPredicates(f)
	if err != nil {
		return nil, err
	}
	if opts.Marker != "" {
		m, err := r.s.r.Instance.Query().Where(instance.UUID(opts.Marker)).Only(ctx)
		if err != nil {
			if ent.IsNotFound(err) {
				return nil, &compute.MarkerNotFoundError{Marker: opts.Marker}
			}
			return nil, r.s.classify(err, "instance", opts.Marker)
		}
		vals := make([]any, len(cols))
		for i, c := range cols {
			vals[i] = markerValue(m, c)
		}
		preds = append(preds, afterMarker(r.s.dialect, cols, dirs, vals))
	}
	q := r.s.r.Instance.Query().Where(preds...)
	q = q.Order(func(sel *entsql.Selector) {
		for i, c := range cols {
			e := sortExpr(r.s.dialect, sel, c)
			if dirs[i] {
				e = entsql.DescExpr(e)
			}
			sel.OrderExpr(e)
		}
	})
	if opts.Limit > 0 {
		q = q.Limit(opts.Limit)
	}
	rows, err := q.All(ctx)
	if err != nil {
		return nil, r.s.classify(err, "instances", "list")
	}
	out := make([]*compute.Instance, len(rows))
	for i, row := range rows {
		out[i] = toInstance(row)
	}
	return out, nil
}

// nullTime stands in for NULL in nullable time sort columns. It is the
// Unix epoch rather than the zero time, which MySQL turns into the invalid
// date 0000-00-00.
var nullTime = time.Unix(0, 0).UTC()

func sortExpr(d Dialect, sel *entsql.Selector, c sortColumn) entsql.Querier {
	col := sel.C(c.col)
	if !c.nullableTime {
		return entsql.Expr(col)
	}
	// A literal, not a parameter: MySQL types a parameter in ORDER BY as
	// a string, which would sort differently from the comparisons.
	lit := map[Dialect]string{
		SQLite:   "'1970-01-01 00:00:00+00:00'",
		Postgres: "TIMESTAMPTZ '1970-01-01 00:00:00+00'",
		MySQL:    "TIMESTAMP'1970-01-01 00:00:00'",
	}[d]
	return entsql.Expr("COALESCE(" + col + ", " + lit + ")")
}

func markerValue(m *ent.Instance, c sortColumn) any {
	switch c.col {
	case instance.FieldCreatedAt:
		return m.CreatedAt
	case instance.FieldUpdatedAt:
		return m.UpdatedAt
	case instance.FieldLaunchedAt:
		return timeOrZero(m.LaunchedAt)
	case instance.FieldTerminatedAt:
		return timeOrZero(m.TerminatedAt)
	case instance.FieldDisplayName:
		return m.DisplayName
	case instance.FieldUUID:
		return m.UUID
	case instance.FieldID:
		return m.ID
	case instance.FieldVMState:
		return m.VMState
	case instance.FieldTaskState:
		return m.TaskState
	case instance.FieldPowerState:
		return m.PowerState
	case instance.FieldHost:
		return m.Host
	case instance.FieldNode:
		return m.Node
	case instance.FieldAvailabilityZone:
		return m.AvailabilityZone
	case instance.FieldHostname:
		return m.Hostname
	case instance.FieldProjectID:
		return m.ProjectID
	case instance.FieldUserID:
		return m.UserID
	case instance.FieldKeyName:
		return m.KeyName
	case instance.FieldImageRef:
		return m.ImageRef
	case instance.FieldLocked:
		return m.Locked
	case instance.FieldLaunchIndex:
		return m.LaunchIndex
	case instance.FieldReservationID:
		return m.ReservationID
	case instance.FieldProgress:
		return m.Progress
	}
	panic("store: no marker value for column " + c.col)
}

func timeOrZero(t *time.Time) time.Time {
	if t == nil {
		return nullTime
	}
	return *t
}

// afterMarker is the keyset condition "comes after the marker row":
// OR over i of (k1 = v1 AND … AND k(i-1) = v(i-1) AND ki ≷ vi).
func afterMarker(d Dialect, cols []sortColumn, desc []bool, vals []any) predicate.Instance {
	return func(sel *entsql.Selector) {
		var ors []*entsql.Predicate
		for i := range cols {
			var ands []*entsql.Predicate
			for j := 0; j < i; j++ {
				ands = append(ands, cmpExpr(d, sel, cols[j], "=", vals[j]))
			}
			op := ">"
			if desc[i] {
				op = "<"
			}
			ands = append(ands, cmpExpr(d, sel, cols[i], op, vals[i]))
			ors = append(ors, entsql.And(ands...))
		}
		sel.Where(entsql.Or(ors...))
	}
}

func cmpExpr(d Dialect, sel *entsql.Selector, c sortColumn, op string, v any) *entsql.Predicate {
	e := sortExpr(d, sel, c)
	return entsql.P(func(b *entsql.Builder) {
		b.Join(e).WriteString(" " + op + " ").Arg(v)
	})
}

func (r Instances) filterPredicates(f compute.InstanceFilter) ([]predicate.Instance, error) {
	var p []predicate.Instance
	deleted := f.Deleted
	switch deleted {
	case compute.ReadDeletedNo:
		if f.ChangesSince.IsZero() && f.ChangesBefore.IsZero() {
			p = append(p, instance.Deleted(false))
		}
	case compute.ReadDeletedOnly:
		p = append(p, instance.Deleted(true))
	case compute.ReadDeletedYes:
	default:
		return nil, compute.InvalidInput("deleted", "unknown value %d", deleted)
	}
	eq := func(v string, f func(string) predicate.Instance) {
		if v != "" {
			p = append(p, f(v))
		}
	}
	eq(f.ProjectID, instance.ProjectID)
	eq(f.UserID, instance.UserID)
	eq(f.Host, instance.Host)
	eq(f.Node, instance.Node)
	eq(f.ImageRef, instance.ImageRef)
	eq(f.FlavorID, instance.FlavorID)
	eq(f.ReservationID, instance.ReservationID)
	eq(f.KeyName, instance.KeyName)
	eq(f.AvailabilityZone, instance.AvailabilityZone)
	eq(f.Hostname, instance.Hostname)
	if f.UUIDs != nil {
		p = append(p, instance.UUIDIn(f.UUIDs...))
	}
	if f.VMStates != nil {
		p = append(p, instance.VMStateIn(strs(f.VMStates)...))
	}
	if f.TaskStates != nil {
		p = append(p, instance.TaskStateIn(strs(f.TaskStates)...))
	}
	if f.PowerState != nil {
		p = append(p, instance.PowerState(int(*f.PowerState)))
	}
	if f.Locked != nil {
		p = append(p, instance.Locked(*f.Locked))
	}
	if !f.ChangesSince.IsZero() {
		p = append(p, instance.UpdatedAtGTE(norm(f.ChangesSince)))
	}
	if !f.ChangesBefore.IsZero() {
		p = append(p, instance.UpdatedAtLTE(norm(f.ChangesBefore)))
	}
	if f.States != nil {
		var ors []predicate.Instance
		for _, sp := range f.States {
			conds := []predicate.Instance{instance.VMState(string(sp.VM))}
			if sp.AnyTask {
				if len(sp.Except) > 0 {
					conds = append(conds, instance.TaskStateNotIn(strs(sp.Except)...))
				}
			} else {
				conds = append(conds, instance.TaskStateIn(strs(sp.Tasks)...))
			}
			ors = append(ors, instance.And(conds...))
		}
		if len(ors) == 0 {
			// No state matches: an empty result, as Nova gives.
			ors = append(ors, instance.IDLT(0))
		}
		p = append(p, instance.Or(ors...))
	}
	if f.Name != "" {
		if _, err := regexp.Compile(f.Name); err != nil {
			return nil, compute.InvalidInput("name", "not a regular expression: %v", err)
		}
		p = append(p, r.nameMatches(f.Name))
	}
	hasTag := func(tags ...string) predicate.Instance { return instance.HasTagsWith(instancetag.TagIn(tags...)) }
	for _, t := range f.Tags {
		p = append(p, hasTag(t))
	}
	if len(f.TagsAny) > 0 {
		p = append(p, hasTag(f.TagsAny...))
	}
	if len(f.NotTags) > 0 {
		all := make([]predicate.Instance, len(f.NotTags))
		for i, t := range f.NotTags {
			all[i] = hasTag(t)
		}
		p = append(p, instance.Not(instance.And(all...)))
	}
	if len(f.NotTagsAny) > 0 {
		p = append(p, instance.Not(hasTag(f.NotTagsAny...)))
	}
	return p, nil
}

func (r Instances) nameMatches(pattern string) predicate.Instance {
	d := r.s.dialect
	return func(sel *entsql.Selector) {
		col := sel.C(instance.FieldDisplayName)
		sel.Where(entsql.P(func(b *entsql.Builder) {
			switch d {
			case Postgres:
				b.WriteString(col).WriteString(" ~ ").Arg(pattern)
			default: // SQLite (our regexp function) and MySQL
				b.WriteString(col).WriteString(" REGEXP ").Arg(pattern)
			}
		}))
	}
}

func anys(in []string) []any {
	out := make([]any, len(in))
	for i, v := range in {
		out[i] = v
	}
	return out
}

func strs[T ~string](in []T) []string {
	out := make([]string, len(in))
	for i, v := range in {
		out[i] = string(v)
	}
	return out
}

func toInstance(e *ent.Instance) *compute.Instance {
	in := &compute.Instance{
		ID: int64(e.ID), UUID: e.UUID, Name: e.DisplayName, Hostname: e.Hostname,
		Description: e.Description, ProjectID: e.ProjectID, UserID: e.UserID, ImageRef: e.ImageRef,
		Flavor: e.Flavor, OldFlavor: e.FlavorOld, NewFlavor: e.FlavorNew,
		VMState: compute.VMState(e.VMState), TaskState: compute.TaskState(e.TaskState),
		PowerState: compute.PowerState(e.PowerState), Host: e.Host, Node: e.Node,
		AvailabilityZone: e.AvailabilityZone, KeyName: e.KeyName, KeyData: e.KeyData,
		UserData: e.UserData, ConfigDrive: e.ConfigDrive, AccessIPv4: e.AccessIPV4,
		AccessIPv6: e.AccessIPV6, Metadata: e.Metadata, SystemMetadata: e.SystemMetadata,
		Tags: normTags(e.TagList), ReservationID: e.ReservationID, LaunchIndex: e.LaunchIndex,
		Locked: e.Locked, LockedBy: e.LockedBy, LockedReason: e.LockedReason,
		RootDeviceName: e.RootDeviceName, Progress: e.Progress, DiskConfig: e.DiskConfig,
		DriverHandle: e.DriverHandle, CreatedAt: e.CreatedAt.UTC(), UpdatedAt: e.UpdatedAt.UTC(),
		Deleted: e.Deleted,
	}
	if e.LaunchedAt != nil {
		in.LaunchedAt = e.LaunchedAt.UTC()
	}
	if e.TerminatedAt != nil {
		in.TerminatedAt = e.TerminatedAt.UTC()
	}
	if e.DeletedAt != nil {
		in.DeletedAt = e.DeletedAt.UTC()
	}
	return in
}

// normTags returns tags as the store returns them: sorted, without
// duplicates, nil when empty.
func normTags(tags []string) []string {
	if len(tags) == 0 {
		return nil
	}
	out := slices.Clone(tags)
	slices.Sort(out)
	return slices.Compact(out)
}
