package store

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/google/uuid"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/store/internal/ent"
	"github.com/novakit/novakit/store/internal/ent/blockdevicemapping"
	"github.com/novakit/novakit/store/internal/ent/instance"
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
	err := s.withTx(ctx, func(tx *ent.Tx) error {
		if counted {
			used, err := s.usageIn(ctx, tx.Client(), project)
			if err != nil {
				return err
			}
			if room := quota.room(used, in[0].Instance.Flavor, len(in)); room < len(in) {
				return &QuotaRoomError{Usage: used, Room: room, Requested: len(in)}
			}
		}
		for i := range in {
			if err := s.createBuild(ctx, tx, &in[i], specs[i]); err != nil {
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

// createBuild writes one build in tx, filling in what the database
// assigned.
func (s *Store) createBuild(ctx context.Context, tx *ent.Tx, b *InstanceBuild, spec []byte) error {
	inst := b.Instance
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
	tags := normTags(inst.Tags)
	if tags != nil {
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
		return s.classify(err, "instance", inst.UUID)
	}
	if len(tags) > 0 {
		bulk := make([]*ent.InstanceTagCreate, len(tags))
		for i, t := range tags {
			bulk[i] = tx.InstanceTag.Create().SetInstanceID(row.ID).SetTag(t)
		}
		if err := tx.InstanceTag.CreateBulk(bulk...).Exec(ctx); err != nil {
			return s.classify(err, "instance tags", inst.UUID)
		}
	}
	b.Instance = toInstance(row)
	if spec != nil {
		err := tx.RequestSpec.Create().SetInstanceUUID(inst.UUID).SetSpec(string(spec)).SetUpdatedAt(inst.UpdatedAt).
			OnConflictColumns(requestspec.FieldInstanceUUID).UpdateSpec().UpdateUpdatedAt().Exec(ctx)
		if err != nil {
			return s.classify(err, "request spec", inst.UUID)
		}
	}
	for i := range b.BlockDevices {
		bd := &b.BlockDevices[i]
		c := tx.BlockDeviceMapping.Create().SetUUID(bd.UUID).SetInstanceUUID(inst.UUID).SetCreatedAt(inst.UpdatedAt)
		setBDM(c.Mutation(), bd)
		row, err := c.Save(ctx)
		if err != nil {
			return s.classify(err, "block device mapping", bd.UUID)
		}
		*bd = *toBDM(row)
	}
	if a := b.Action; a != nil {
		row, err := tx.InstanceAction.Create().
			SetAction(a.Action).SetInstanceUUID(inst.UUID).SetRequestID(a.RequestID).
			SetUserID(a.UserID).SetProjectID(a.ProjectID).SetStartTime(a.StartTime).
			SetMessage(a.Message).SetUpdatedAt(a.StartTime).Save(ctx)
		if err != nil {
			return s.classify(err, "instance action", actionKey(inst.UUID, a.RequestID))
		}
		b.Action = toAction(row)
	}
	return nil
}

// usageIn counts the project's live instances, vCPUs and RAM through c
// (a transaction's client, to count what the transaction sees).
func (s *Store) usageIn(ctx context.Context, c *ent.Client, projectID string) (InstanceUsage, error) {
	var v []struct {
		Count int `json:"count"`
		VCPUs int `json:"vcpus"`
		RAM   int `json:"ram"`
	}
	err := c.Instance.Query().Where(instance.ProjectID(projectID), instance.Deleted(false)).
		Aggregate(ent.Count(), ent.As(ent.Sum(instance.FieldVcpus), "vcpus"), ent.As(ent.Sum(instance.FieldMemoryMB), "ram")).
		Scan(ctx, &v)
	if err != nil {
		return InstanceUsage{}, s.classify(err, "instance usage", projectID)
	}
	if len(v) == 0 {
		return InstanceUsage{}, nil
	}
	return InstanceUsage{Instances: v[0].Count, VCPUs: v[0].VCPUs, MemoryMB: v[0].RAM}, nil
}

// recheckBuilds counts the project's usage after the builds committed and
// undoes them when the project is over a limit.
func (s *Store) recheckBuilds(ctx context.Context, builds []InstanceBuild, quota *BuildQuota) error {
	project := builds[0].Instance.ProjectID
	used, err := s.usageIn(ctx, s.w, project)
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
