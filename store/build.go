package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/store/internal/ent"
	"github.com/novakit/novakit/store/internal/ent/blockdevicemapping"
	"github.com/novakit/novakit/store/internal/ent/instance"
	"github.com/novakit/novakit/store/internal/ent/instanceaction"
	"github.com/novakit/novakit/store/internal/ent/instancetag"
	"github.com/novakit/novakit/store/internal/ent/requestspec"
)

// InstanceBuild is what a server create stores for one new instance (the
// records nova/compute/api.py's _provision_instances writes): the
// instance, its request spec, its block device mappings and the action
// that records the create.
type InstanceBuild struct {
	// Instance is stored as [Instances.Create] stores it (an empty UUID
	// gets a new one, an empty VMState becomes building).
	Instance *compute.Instance
	// Spec, when not nil, is stored as the instance's request spec
	// (its InstanceUUID is set to the instance's).
	Spec *compute.RequestSpec
	// BlockDevices are stored as the instance's mappings, in order
	// (InstanceUUID set to the instance's, an empty UUID gets a new one).
	BlockDevices []compute.BlockDeviceMapping
	// Action, when not nil, is started for the instance (its
	// InstanceUUID is set to the instance's; a zero StartTime is now).
	Action *compute.InstanceAction
}

// BuildQuota is the quota a create is checked against: the limits of the
// instances, cores and RAM (compute.QuotaInstances, QuotaCores,
// QuotaRAM) of the instances' project; -1, or a missing key, is
// unlimited. Usage is counted as [Instances.Usage] counts it.
type BuildQuota struct {
	Limits map[string]int
}

// QuotaRoomError says that a build does not fit in its project's quota:
// Usage is what the project's live instances took without the build, Room
// how many instances of the build's size (that of its first instance)
// still fit. It satisfies errors.Is(err, compute.ErrQuotaExceeded).
type QuotaRoomError struct {
	Usage InstanceUsage
	Room  int
	// Requested is how many instances the build had.
	Requested int
}

func (e *QuotaRoomError) Error() string {
	return fmt.Sprintf("store: quota: room for %d of %d instances (the project has %d instances, %d vCPUs, %d MB of RAM)",
		e.Room, e.Requested, e.Usage.Instances, e.Usage.VCPUs, e.Usage.MemoryMB)
}

// Is reports whether target is compute.ErrQuotaExceeded.
func (e *QuotaRoomError) Is(target error) bool { return target == compute.ErrQuotaExceeded }

// Unlimited reports whether the quota limits none of the instances,
// cores and RAM (then CreateBuilds need not count usage).
func (q *BuildQuota) Unlimited() bool {
	if q == nil {
		return true
	}
	for _, r := range []string{compute.QuotaInstances, compute.QuotaCores, compute.QuotaRAM} {
		if lim, ok := q.Limits[r]; ok && lim >= 0 {
			return false
		}
	}
	return true
}

// room returns how many more instances of per's size fit on top of used.
func (q *BuildQuota) room(used InstanceUsage, per compute.Flavor, want int) int {
	room := want
	for _, x := range []struct {
		r         string
		used, per int
	}{
		{compute.QuotaInstances, used.Instances, 1},
		{compute.QuotaCores, used.VCPUs, per.VCPUs},
		{compute.QuotaRAM, used.MemoryMB, per.MemoryMB},
	} {
		lim, ok := q.Limits[x.r]
		if !ok || lim < 0 || x.per <= 0 {
			continue
		}
		n := 0
		if lim > x.used {
			n = (lim - x.used) / x.per
		}
		room = min(room, n)
	}
	return room
}

// CreateBuilds stores every build, all or nothing, in one transaction:
// the instances (with their tags), request specs, block device mappings
// and actions. It returns the builds as stored, in order (instances and
// mappings with their ids and timestamps).
//
// With a quota that limits something, the project's usage (the project of
// the first instance) is counted in the same transaction and the builds
// are stored only if all of them fit; otherwise nothing is stored and the
// error is a *QuotaRoomError saying how many would fit. On SQLite, whose
// write transactions run one at a time, the count and the writes are
// atomic: two creates racing for the last slot cannot both get it. On a
// database server the usage is counted again after the commit (Nova's
// quota recheck) and, when the builds and a concurrent create together
// went over a limit, the builds are undone (instances soft-deleted,
// their specs and mappings deleted) and the error is a *QuotaRoomError:
// racing creates may then both fail, but never both succeed.
//
// A bad field gives a *compute.InvalidInputError, an instance UUID that
// exists a *compute.DuplicateError. Safe for concurrent use; not
// idempotent.
func (s *Store) CreateBuilds(ctx context.Context, builds []InstanceBuild, quota *BuildQuota) ([]InstanceBuild, error) {
	if len(builds) == 0 {
		return nil, nil
	}
	now := s.ts()
	in := make([]InstanceBuild, len(builds))
	specs := make([][]byte, len(builds))
	for i, b := range builds {
		if b.Instance == nil {
			return nil, compute.InvalidInput("instance", "is required")
		}
		inst := *b.Instance
		if inst.UUID == "" {
			inst.UUID = uuid.NewString()
		}
		if inst.VMState == "" {
			inst.VMState = compute.VMBuilding
		}
		if err := validateInstance(&inst); err != nil {
			return nil, err
		}
		if inst.CreatedAt.IsZero() {
			inst.CreatedAt = now
		}
		inst.UpdatedAt = now
		out := InstanceBuild{Instance: &inst}
		if b.Spec != nil {
			spec := *b.Spec
			spec.InstanceUUID = inst.UUID
			raw, err := json.Marshal(&spec)
			if err != nil {
				return nil, compute.InvalidInput("request_spec", "cannot be encoded: %v", err)
			}
			specs[i] = raw
			out.Spec = &spec
		}
		out.BlockDevices = make([]compute.BlockDeviceMapping, len(b.BlockDevices))
		for j, bd := range b.BlockDevices {
			bd.InstanceUUID = inst.UUID
			id, err := uuidField("uuid", bd.UUID, true)
			if err != nil {
				return nil, err
			}
			bd.UUID = id
			if err := validateBDM(&bd); err != nil {
				return nil, err
			}
			if err := checkLengths(
				lengthCheck{blockdevicemapping.FieldImageID, bd.ImageID, blockdevicemapping.ImageIDValidator},
				lengthCheck{blockdevicemapping.FieldVolumeID, bd.VolumeID, blockdevicemapping.VolumeIDValidator},
				lengthCheck{blockdevicemapping.FieldSnapshotID, bd.SnapshotID, blockdevicemapping.SnapshotIDValidator},
				lengthCheck{blockdevicemapping.FieldVolumeType, bd.VolumeType, blockdevicemapping.VolumeTypeValidator},
				lengthCheck{blockdevicemapping.FieldDeviceName, bd.DeviceName, blockdevicemapping.DeviceNameValidator},
				lengthCheck{blockdevicemapping.FieldDeviceType, bd.DeviceType, blockdevicemapping.DeviceTypeValidator},
				lengthCheck{blockdevicemapping.FieldDiskBus, bd.DiskBus, blockdevicemapping.DiskBusValidator},
				lengthCheck{blockdevicemapping.FieldGuestFormat, bd.GuestFormat, blockdevicemapping.GuestFormatValidator},
				lengthCheck{blockdevicemapping.FieldTag, bd.Tag, blockdevicemapping.TagValidator},
				lengthCheck{blockdevicemapping.FieldAttachmentID, bd.AttachmentID, blockdevicemapping.AttachmentIDValidator},
			); err != nil {
				return nil, err
			}
			out.BlockDevices[j] = bd
		}
		if b.Action != nil {
			a := *b.Action
			a.InstanceUUID = inst.UUID
			if err := required("request_id", a.RequestID); err != nil {
				return nil, err
			}
			if err := required("action", a.Action); err != nil {
				return nil, err
			}
			if err := checkLengths(
				lengthCheck{instanceaction.FieldAction, a.Action, instanceaction.ActionValidator},
				lengthCheck{instanceaction.FieldRequestID, a.RequestID, instanceaction.RequestIDValidator},
				lengthCheck{instanceaction.FieldUserID, a.UserID, instanceaction.UserIDValidator},
				lengthCheck{instanceaction.FieldProjectID, a.ProjectID, instanceaction.ProjectIDValidator},
			); err != nil {
				return nil, err
			}
			a.StartTime = norm(a.StartTime)
			if a.StartTime.IsZero() {
				a.StartTime = now
			}
			out.Action = &a
		}
		in[i] = out
	}
	project := in[0].Instance.ProjectID
	counted := !quota.Unlimited()
	sq := buildSQLs[s.dialect]
	err := s.rawWriteTx(ctx, func(eq execQuerier) error {
		if counted {
			used, err := s.usageRaw(ctx, eq, sq, project)
			if err != nil {
				return err
			}
			if room := quota.room(used, in[0].Instance.Flavor, len(in)); room < len(in) {
				return &QuotaRoomError{Usage: used, Room: room, Requested: len(in)}
			}
		}
		for i := range in {
			if err := s.insertBuild(ctx, eq, sq, &in[i], specs[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if counted && s.dialect != SQLite {
		if err := s.recheckBuilds(ctx, in, quota); err != nil {
			return nil, err
		}
	}
	return in, nil
}

// recheckBuilds counts the project's usage after the builds committed and
// undoes them when the project is over a limit.
func (s *Store) recheckBuilds(ctx context.Context, builds []InstanceBuild, quota *BuildQuota) error {
	project := builds[0].Instance.ProjectID
	used, err := s.usageRaw(ctx, s.rawConn(), buildSQLs[s.dialect], project)
	if err != nil {
		return err
	}
	if !quota.over(used) {
		return nil
	}
	mine := InstanceUsage{}
	ids := make([]string, len(builds))
	for i, b := range builds {
		ids[i] = b.Instance.UUID
		mine.Instances++
		mine.VCPUs += b.Instance.Flavor.VCPUs
		mine.MemoryMB += b.Instance.Flavor.MemoryMB
	}
	before := InstanceUsage{Instances: used.Instances - mine.Instances, VCPUs: used.VCPUs - mine.VCPUs, MemoryMB: used.MemoryMB - mine.MemoryMB}
	now := s.ts()
	uerr := s.withTx(context.WithoutCancel(ctx), func(tx *ent.Tx) error {
		if _, err := tx.Instance.Update().Where(instance.UUIDIn(ids...), instance.Deleted(false)).
			SetVMState(string(compute.VMDeleted)).SetTaskState("").SetPowerState(int(compute.PowerNoState)).
			SetDeleted(true).SetDeletedAt(now).SetTerminatedAt(now).SetUpdatedAt(now).Save(ctx); err != nil {
			return s.classify(err, "instances", "quota recheck")
		}
		if _, err := tx.RequestSpec.Delete().Where(requestspec.InstanceUUIDIn(ids...)).Exec(ctx); err != nil {
			return s.classify(err, "request specs", "quota recheck")
		}
		if _, err := tx.BlockDeviceMapping.Delete().Where(blockdevicemapping.InstanceUUIDIn(ids...)).Exec(ctx); err != nil {
			return s.classify(err, "block device mappings", "quota recheck")
		}
		return nil
	})
	if uerr != nil {
		return fmt.Errorf("store: undo builds over quota: %w", uerr)
	}
	return &QuotaRoomError{Usage: before, Room: quota.room(before, builds[0].Instance.Flavor, len(builds)), Requested: len(builds)}
}

// over reports whether used exceeds a limit.
func (q *BuildQuota) over(used InstanceUsage) bool {
	for r, u := range map[string]int{compute.QuotaInstances: used.Instances, compute.QuotaCores: used.VCPUs, compute.QuotaRAM: used.MemoryMB} {
		if lim, ok := q.Limits[r]; ok && lim >= 0 && u > lim {
			return true
		}
	}
	return false
}

// buildSQL holds the statements of the create path, built once per
// dialect from the ent schema's column lists. They are hand-built, as
// the instance hot path's are (instances_sql.go): ent's builders cost as
// much CPU and garbage as SQLite's own work on these inserts.
type buildSQL struct {
	instanceCols []string // instance.Columns without the id
	insertInst   string   // INSERT INTO instances …; RETURNING id on PostgreSQL
	insertTag    string
	insertSpec   string
	insertBDM    string
	insertAction string
	usage        string // count, vCPUs and RAM of a project's live instances
}

// buildSQLs is read-only after package initialisation.
var buildSQLs = map[Dialect]*buildSQL{SQLite: newBuildSQL(SQLite), Postgres: newBuildSQL(Postgres), MySQL: newBuildSQL(MySQL)}

func newBuildSQL(d Dialect) *buildSQL {
	q := quoter(d)
	rb := (&Store{dialect: d}).rebind
	insert := func(table string, cols []string) string {
		quoted := make([]string, len(cols))
		marks := make([]string, len(cols))
		for i, c := range cols {
			quoted[i], marks[i] = q(c), "?"
		}
		return "INSERT INTO " + q(table) + " (" + strings.Join(quoted, ", ") + ") VALUES (" + strings.Join(marks, ", ") + ")"
	}
	var icols []string
	for _, c := range instance.Columns {
		if c != instance.FieldID {
			icols = append(icols, c)
		}
	}
	out := &buildSQL{
		instanceCols: icols,
		insertInst:   insert(instance.Table, icols),
		insertTag:    rb(insert(instancetag.Table, []string{instancetag.FieldInstanceID, instancetag.FieldTag})),
		insertSpec:   rb(insert(requestspec.Table, []string{requestspec.FieldInstanceUUID, requestspec.FieldSpec, requestspec.FieldUpdatedAt})),
		insertBDM:    insert(blockdevicemapping.Table, blockdevicemapping.Columns[1:]),
		insertAction: insert(instanceaction.Table, instanceaction.Columns[1:]),
		usage: rb("SELECT COUNT(*), COALESCE(SUM(" + q(instance.FieldVcpus) + "), 0), COALESCE(SUM(" + q(instance.FieldMemoryMB) + "), 0) FROM " +
			q(instance.Table) + " WHERE " + q(instance.FieldProjectID) + " = ? AND " + q(instance.FieldDeleted) + " = ?"),
	}
	if d == Postgres {
		out.insertInst += " RETURNING " + q(instance.FieldID)
		out.insertBDM += " RETURNING " + q(blockdevicemapping.FieldID)
		out.insertAction += " RETURNING " + q(instanceaction.FieldID)
	}
	out.insertInst, out.insertBDM, out.insertAction = rb(out.insertInst), rb(out.insertBDM), rb(out.insertAction)
	return out
}

// insertID runs the INSERT q and returns the id of the new row: from its
// RETURNING clause on PostgreSQL, the driver's last insert id elsewhere.
func (s *Store) insertID(ctx context.Context, eq execQuerier, q string, args ...any) (int64, error) {
	var id int64
	if s.dialect != Postgres {
		res, err := eq.ExecContext(ctx, q, args...)
		if err != nil {
			return 0, err
		}
		return res.LastInsertId()
	}
	rows, err := eq.QueryContext(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	if rows.Next() {
		err = rows.Scan(&id)
	} else {
		err = rows.Err()
	}
	if cerr := rows.Close(); err == nil {
		err = cerr
	}
	return id, err
}

// rawWriteTx runs fn in a write transaction on hand-built SQL: as one
// member of a group commit on a SQLite file, otherwise a transaction of
// the writer. It commits when fn returns nil and rolls back otherwise
// (also on panic, which is re-raised).
func (s *Store) rawWriteTx(ctx context.Context, fn func(eq execQuerier) error) (err error) {
	if g := s.group; g != nil {
		b, err := g.acquire(ctx, true)
		if err != nil {
			return s.classify(err, "transaction", "begin")
		}
		pending := []string{}
		ok := false
		defer func() {
			ferr := g.finish(b, true, ok)
			s.wcache.prepareAll(pending)
			if err == nil && ferr != nil {
				err = s.classify(ferr, "transaction", "commit")
			}
		}()
		if err := fn(cachedExecQuerier{c: s.wcache, tx: g.tx, pending: &pending, detach: true}); err != nil {
			return err
		}
		ok = true
		return nil
	}
	tx, err := s.dbs[0].BeginTx(ctx, nil)
	if err != nil {
		return s.classify(err, "transaction", "begin")
	}
	eq, pending := s.rawTx(tx)
	committed := false
	defer func() {
		if !committed {
			_ = tx.Rollback()
		}
		s.preparePending(pending)
	}()
	if err := fn(eq); err != nil {
		return err
	}
	committed = true
	if err := tx.Commit(); err != nil {
		return s.classify(err, "transaction", "commit")
	}
	return nil
}

// usageRaw counts the project's live instances, vCPUs and RAM through eq
// (inside a transaction: what the transaction sees).
func (s *Store) usageRaw(ctx context.Context, eq execQuerier, sq *buildSQL, projectID string) (InstanceUsage, error) {
	rows, err := eq.QueryContext(ctx, sq.usage, projectID, false)
	if err != nil {
		return InstanceUsage{}, s.classify(err, "instance usage", projectID)
	}
	defer rows.Close()
	var u InstanceUsage
	if rows.Next() {
		var n, vcpus, ram int64
		if err := rows.Scan(&n, &vcpus, &ram); err != nil {
			return InstanceUsage{}, s.classify(err, "instance usage", projectID)
		}
		u = InstanceUsage{Instances: int(n), VCPUs: int(vcpus), MemoryMB: int(ram)}
	}
	if err := rows.Close(); err != nil {
		return InstanceUsage{}, s.classify(err, "instance usage", projectID)
	}
	return u, nil
}

// insertBuild writes one build through eq, filling in the ids the
// database assigned.
func (s *Store) insertBuild(ctx context.Context, eq execQuerier, sq *buildSQL, b *InstanceBuild, spec []byte) error {
	inst := b.Instance
	args, err := instanceArgs(sq.instanceCols, inst)
	if err != nil {
		return err
	}
	id, err := s.insertID(ctx, eq, sq.insertInst, args...)
	if err != nil {
		return s.classify(err, "instance", inst.UUID)
	}
	inst.ID = id
	inst.Tags = normTags(inst.Tags)
	inst.CreatedAt = norm(inst.CreatedAt)
	for _, t := range inst.Tags {
		if err := instancetag.TagValidator(t); err != nil {
			return compute.InvalidInput("tags", "%v", err)
		}
		if _, err := eq.ExecContext(ctx, sq.insertTag, id, t); err != nil {
			return s.classify(err, "instance tags", inst.UUID)
		}
	}
	if spec != nil {
		if _, err := eq.ExecContext(ctx, sq.insertSpec, inst.UUID, spec, inst.UpdatedAt); err != nil {
			return s.classify(err, "request spec", inst.UUID)
		}
	}
	for i := range b.BlockDevices {
		bd := &b.BlockDevices[i]
		bd.CreatedAt = inst.UpdatedAt
		var boot any
		if bd.BootIndex != nil {
			boot = *bd.BootIndex
		}
		bd.ID, err = s.insertID(ctx, eq, sq.insertBDM, bd.UUID, bd.InstanceUUID, boot, bd.SourceType, bd.DestinationType,
			bd.ImageID, bd.VolumeID, bd.SnapshotID, bd.VolumeSize, bd.VolumeType, bd.DeviceName, bd.DeviceType,
			bd.DiskBus, bd.GuestFormat, bd.DeleteOnTermination, bd.Tag, bd.AttachmentID, bd.ConnectionInfo, bd.CreatedAt)
		if err != nil {
			return s.classify(err, "block device mapping", bd.UUID)
		}
	}
	if a := b.Action; a != nil {
		a.UpdatedAt = a.StartTime
		a.ID, err = s.insertID(ctx, eq, sq.insertAction, a.Action, a.InstanceUUID, a.RequestID, a.UserID, a.ProjectID,
			a.StartTime, nil, a.Message, a.UpdatedAt)
		if err != nil {
			return s.classify(err, "instance action", actionKey(inst.UUID, a.RequestID))
		}
	}
	return nil
}

// instanceArgs returns the values of cols for a new instance, encoded as
// ent encodes them (JSON columns as JSON text, absent optional columns
// NULL), after the length checks of the ent schema. A column added to the
// instance schema must be added here: until it is, every create fails
// with an error naming it (and so does TestCreateBuilds).
func instanceArgs(cols []string, in *compute.Instance) ([]any, error) {
	if err := checkLengths(
		lengthCheck{instance.FieldUUID, in.UUID, instance.UUIDValidator},
		lengthCheck{instance.FieldDisplayName, in.Name, instance.DisplayNameValidator},
		lengthCheck{instance.FieldHostname, in.Hostname, instance.HostnameValidator},
		lengthCheck{instance.FieldProjectID, in.ProjectID, instance.ProjectIDValidator},
		lengthCheck{instance.FieldUserID, in.UserID, instance.UserIDValidator},
		lengthCheck{instance.FieldImageRef, in.ImageRef, instance.ImageRefValidator},
		lengthCheck{instance.FieldFlavorID, in.Flavor.FlavorID, instance.FlavorIDValidator},
		lengthCheck{instance.FieldVMState, string(in.VMState), instance.VMStateValidator},
		lengthCheck{instance.FieldTaskState, string(in.TaskState), instance.TaskStateValidator},
		lengthCheck{instance.FieldHost, in.Host, instance.HostValidator},
		lengthCheck{instance.FieldNode, in.Node, instance.NodeValidator},
		lengthCheck{instance.FieldAvailabilityZone, in.AvailabilityZone, instance.AvailabilityZoneValidator},
		lengthCheck{instance.FieldKeyName, in.KeyName, instance.KeyNameValidator},
		lengthCheck{instance.FieldAccessIPV4, in.AccessIPv4, instance.AccessIPV4Validator},
		lengthCheck{instance.FieldAccessIPV6, in.AccessIPv6, instance.AccessIPV6Validator},
		lengthCheck{instance.FieldReservationID, in.ReservationID, instance.ReservationIDValidator},
		lengthCheck{instance.FieldLockedBy, in.LockedBy, instance.LockedByValidator},
		lengthCheck{instance.FieldLockedReason, in.LockedReason, instance.LockedReasonValidator},
		lengthCheck{instance.FieldRootDeviceName, in.RootDeviceName, instance.RootDeviceNameValidator},
		lengthCheck{instance.FieldDiskConfig, in.DiskConfig, instance.DiskConfigValidator},
	); err != nil {
		return nil, err
	}
	js := func(col string, v any) (any, error) {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, compute.InvalidInput(col, "cannot be encoded: %v", err)
		}
		return b, nil
	}
	optTime := func(t time.Time) any {
		if t.IsZero() {
			return nil
		}
		return norm(t)
	}
	args := make([]any, len(cols))
	for i, c := range cols {
		var (
			v   any
			err error
		)
		switch c {
		case instance.FieldCreatedAt:
			v = norm(in.CreatedAt)
		case instance.FieldUpdatedAt:
			v = in.UpdatedAt
		case instance.FieldUUID:
			v = in.UUID
		case instance.FieldDisplayName:
			v = in.Name
		case instance.FieldHostname:
			v = in.Hostname
		case instance.FieldDescription:
			v = in.Description
		case instance.FieldProjectID:
			v = in.ProjectID
		case instance.FieldUserID:
			v = in.UserID
		case instance.FieldImageRef:
			v = in.ImageRef
		case instance.FieldFlavorID:
			v = in.Flavor.FlavorID
		case instance.FieldVcpus:
			v = in.Flavor.VCPUs
		case instance.FieldMemoryMB:
			v = in.Flavor.MemoryMB
		case instance.FieldRootGB:
			v = in.Flavor.RootGB
		case instance.FieldEphemeralGB:
			v = in.Flavor.EphemeralGB
		case instance.FieldFlavor:
			v, err = js(c, in.Flavor)
		case instance.FieldFlavorOld:
			if in.OldFlavor != nil {
				v, err = js(c, in.OldFlavor)
			}
		case instance.FieldFlavorNew:
			if in.NewFlavor != nil {
				v, err = js(c, in.NewFlavor)
			}
		case instance.FieldVMState:
			v = string(in.VMState)
		case instance.FieldTaskState:
			v = string(in.TaskState)
		case instance.FieldPowerState:
			v = int(in.PowerState)
		case instance.FieldHost:
			v = in.Host
		case instance.FieldNode:
			v = in.Node
		case instance.FieldAvailabilityZone:
			v = in.AvailabilityZone
		case instance.FieldKeyName:
			v = in.KeyName
		case instance.FieldKeyData:
			v = in.KeyData
		case instance.FieldUserData:
			v = in.UserData
		case instance.FieldConfigDrive:
			v = in.ConfigDrive
		case instance.FieldAccessIPV4:
			v = in.AccessIPv4
		case instance.FieldAccessIPV6:
			v = in.AccessIPv6
		case instance.FieldMetadata:
			v, err = js(c, in.Metadata)
		case instance.FieldSystemMetadata:
			v, err = js(c, in.SystemMetadata)
		case instance.FieldTagList:
			if tags := normTags(in.Tags); tags != nil {
				v, err = js(c, tags)
			}
		case instance.FieldReservationID:
			v = in.ReservationID
		case instance.FieldLaunchIndex:
			v = in.LaunchIndex
		case instance.FieldLocked:
			v = in.Locked
		case instance.FieldLockedBy:
			v = in.LockedBy
		case instance.FieldLockedReason:
			v = in.LockedReason
		case instance.FieldRootDeviceName:
			v = in.RootDeviceName
		case instance.FieldProgress:
			v = in.Progress
		case instance.FieldDiskConfig:
			v = in.DiskConfig
		case instance.FieldDriverHandle:
			if in.DriverHandle != nil {
				v = in.DriverHandle
			}
		case instance.FieldLaunchedAt:
			v = optTime(in.LaunchedAt)
		case instance.FieldTerminatedAt:
			v = optTime(in.TerminatedAt)
		case instance.FieldDeletedAt:
			v = nil
		case instance.FieldDeleted:
			v = false
		default:
			return nil, fmt.Errorf("store: create instance: column %q has no value (schema changed?)", c)
		}
		if err != nil {
			return nil, err
		}
		args[i] = v
	}
	return args, nil
}

// lengthCheck is a value and the ent schema's validator of its column.
type lengthCheck struct {
	col, v string
	check  func(string) error
}

// checkLengths runs the validators; a failure is a
// *compute.InvalidInputError naming the column.
func checkLengths(checks ...lengthCheck) error {
	for _, c := range checks {
		if c.check == nil {
			continue
		}
		if err := c.check(c.v); err != nil {
			return compute.InvalidInput(c.col, "%v", err)
		}
	}
	return nil
}
