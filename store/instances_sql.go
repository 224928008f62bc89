package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	entsql "entgo.io/ent/dialect/sql"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/store/internal/ent/instance"
)

// The instance hot path (compare-and-swap updates and reads by uuid)
// runs hand-built SQL instead of ent's typed builders: one UPDATE …
// RETURNING statement where the dialect has it (SQLite, PostgreSQL),
// with the column list quoted once per store. The columns and their
// types still come from the ent schema (instance.Columns).

// instanceSQL holds the statements and fragments built once per store.
type instanceSQL struct {
	cols      string // quoted column list, in instance.Columns order
	returning string // " RETURNING <cols>", or "" on MySQL
	getLive   string // SELECT … WHERE uuid = ? AND deleted = false
	getAny    string // SELECT … WHERE uuid = ?
}

func newInstanceSQL(d Dialect) *instanceSQL {
	q := quoter(d)
	quoted := make([]string, len(instance.Columns))
	for i, c := range instance.Columns {
		quoted[i] = q(c)
	}
	cols := strings.Join(quoted, ", ")
	rb := (&Store{dialect: d}).rebind
	out := &instanceSQL{
		cols:    cols,
		getAny:  rb("SELECT " + cols + " FROM " + q(instance.Table) + " WHERE " + q(instance.FieldUUID) + " = ?"),
		getLive: rb("SELECT " + cols + " FROM " + q(instance.Table) + " WHERE " + q(instance.FieldUUID) + " = ? AND " + q(instance.FieldDeleted) + " = ?"),
	}
	if d != MySQL {
		out.returning = " RETURNING " + cols
	}
	return out
}

func quoter(d Dialect) func(string) string {
	if d == Postgres {
		return func(s string) string { return `"` + s + `"` }
	}
	return func(s string) string { return "`" + s + "`" }
}

func entDialect(d Dialect) string {
	switch d {
	case Postgres:
		return "postgres"
	case MySQL:
		return "mysql"
	}
	return "sqlite3"
}

// execQuerier is a *sql.DB or *sql.Tx.
type execQuerier interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}

// rawConn runs statements on the writer, through its statement cache
// where the store has one.
func (s *Store) rawConn() execQuerier {
	if s.wcache != nil {
		return cachedExecQuerier{c: s.wcache, pending: new([]string)}
	}
	return s.dbs[0]
}

// rawReader runs reads on the reader pool, through its cache if any.
func (s *Store) rawReader() execQuerier {
	if s.rcache != nil {
		return cachedExecQuerier{c: s.rcache, pending: new([]string)}
	}
	return s.dbs[len(s.dbs)-1]
}

// rawTx runs statements in tx; statements met for the first time are
// collected in pending, to be prepared once tx has ended.
func (s *Store) rawTx(tx *sql.Tx) (execQuerier, *[]string) {
	pending := new([]string)
	if s.wcache != nil {
		return cachedExecQuerier{c: s.wcache, tx: tx, pending: pending}, pending
	}
	return tx, pending
}

func (s *Store) preparePending(p *[]string) {
	if s.wcache != nil && p != nil {
		s.wcache.prepareAll(*p)
	}
}

// rewriteTags replaces the tag rows of the instance with the given id.
func (s *Store) rewriteTags(ctx context.Context, eq execQuerier, id int64, tags []string) error {
	q := quoter(s.dialect)
	if _, err := eq.ExecContext(ctx, s.rebind("DELETE FROM "+q("instance_tags")+" WHERE "+q("instance_id")+" = ?"), id); err != nil {
		return err
	}
	for _, t := range normTags(tags) {
		if _, err := eq.ExecContext(ctx, s.rebind("INSERT INTO "+q("instance_tags")+" ("+q("instance_id")+", "+q("tag")+") VALUES (?, ?)"), id, t); err != nil {
			return err
		}
	}
	return nil
}

// scanInstance reads one row of instance.Columns.
func scanInstance(rows *sql.Rows) (*compute.Instance, error) {
	var (
		in    compute.Instance
		id    int64
		vals  = make([]any, len(instance.Columns))
		str   = map[string]*sql.NullString{}
		ints  = map[string]*sql.NullInt64{}
		bools = map[string]*sql.NullBool{}
		times = map[string]*sql.NullTime{}
		raws  = map[string]*[]byte{}
	)
	for i, c := range instance.Columns {
		switch c {
		case instance.FieldID:
			vals[i] = &id
		case instance.FieldFlavor, instance.FieldFlavorOld, instance.FieldFlavorNew, instance.FieldMetadata,
			instance.FieldSystemMetadata, instance.FieldTagList, instance.FieldDriverHandle:
			b := new([]byte)
			raws[c], vals[i] = b, b
		case instance.FieldCreatedAt, instance.FieldUpdatedAt, instance.FieldLaunchedAt,
			instance.FieldTerminatedAt, instance.FieldDeletedAt:
			t := new(sql.NullTime)
			times[c], vals[i] = t, t
		case instance.FieldConfigDrive, instance.FieldLocked, instance.FieldDeleted:
			b := new(sql.NullBool)
			bools[c], vals[i] = b, b
		case instance.FieldVcpus, instance.FieldMemoryMB, instance.FieldRootGB, instance.FieldEphemeralGB,
			instance.FieldPowerState, instance.FieldLaunchIndex, instance.FieldProgress:
			n := new(sql.NullInt64)
			ints[c], vals[i] = n, n
		default:
			s := new(sql.NullString)
			str[c], vals[i] = s, s
		}
	}
	if err := rows.Scan(vals...); err != nil {
		return nil, err
	}
	in.ID = id
	in.UUID = str[instance.FieldUUID].String
	in.Name = str[instance.FieldDisplayName].String
	in.Hostname = str[instance.FieldHostname].String
	in.Description = str[instance.FieldDescription].String
	in.ProjectID = str[instance.FieldProjectID].String
	in.UserID = str[instance.FieldUserID].String
	in.ImageRef = str[instance.FieldImageRef].String
	in.VMState = compute.VMState(str[instance.FieldVMState].String)
	in.TaskState = compute.TaskState(str[instance.FieldTaskState].String)
	in.PowerState = compute.PowerState(ints[instance.FieldPowerState].Int64)
	in.Host = str[instance.FieldHost].String
	in.Node = str[instance.FieldNode].String
	in.AvailabilityZone = str[instance.FieldAvailabilityZone].String
	in.KeyName = str[instance.FieldKeyName].String
	in.KeyData = str[instance.FieldKeyData].String
	in.UserData = str[instance.FieldUserData].String
	in.ConfigDrive = bools[instance.FieldConfigDrive].Bool
	in.AccessIPv4 = str[instance.FieldAccessIPV4].String
	in.AccessIPv6 = str[instance.FieldAccessIPV6].String
	in.ReservationID = str[instance.FieldReservationID].String
	in.LaunchIndex = int(ints[instance.FieldLaunchIndex].Int64)
	in.Locked = bools[instance.FieldLocked].Bool
	in.LockedBy = str[instance.FieldLockedBy].String
	in.LockedReason = str[instance.FieldLockedReason].String
	in.RootDeviceName = str[instance.FieldRootDeviceName].String
	in.Progress = int(ints[instance.FieldProgress].Int64)
	in.DiskConfig = str[instance.FieldDiskConfig].String
	in.Deleted = bools[instance.FieldDeleted].Bool
	in.CreatedAt = times[instance.FieldCreatedAt].Time.UTC()
	in.UpdatedAt = times[instance.FieldUpdatedAt].Time.UTC()
	if t := times[instance.FieldLaunchedAt]; t.Valid {
		in.LaunchedAt = t.Time.UTC()
	}
	if t := times[instance.FieldTerminatedAt]; t.Valid {
		in.TerminatedAt = t.Time.UTC()
	}
	if t := times[instance.FieldDeletedAt]; t.Valid {
		in.DeletedAt = t.Time.UTC()
	}
	if b := *raws[instance.FieldDriverHandle]; len(b) > 0 {
		in.DriverHandle = append([]byte(nil), b...)
	}
	var tags []string
	for _, j := range []struct {
		col string
		v   any
	}{
		{instance.FieldFlavor, &in.Flavor}, {instance.FieldFlavorOld, &in.OldFlavor},
		{instance.FieldFlavorNew, &in.NewFlavor}, {instance.FieldMetadata, &in.Metadata},
		{instance.FieldSystemMetadata, &in.SystemMetadata}, {instance.FieldTagList, &tags},
	} {
		b := *raws[j.col]
		if len(b) == 0 || string(b) == "null" {
			continue
		}
		if err := json.Unmarshal(b, j.v); err != nil {
			return nil, fmt.Errorf("instance %s: column %s: %w", in.UUID, j.col, err)
		}
	}
	in.Tags = normTags(tags)
	return &in, nil
}

// queryInstance runs q and scans at most one instance; nil when no row.
func queryInstance(ctx context.Context, eq execQuerier, q string, args ...any) (*compute.Instance, error) {
	rows, err := eq.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	if !rows.Next() {
		return nil, rows.Err()
	}
	in, err := scanInstance(rows)
	if err != nil {
		return nil, err
	}
	return in, rows.Close()
}

// updateSets turns an InstanceUpdate into column assignments.
func updateSets(ub *entsql.UpdateBuilder, u *compute.InstanceUpdate) error {
	setStr := func(col string, p *string) {
		if p != nil {
			ub.Set(col, *p)
		}
	}
	setJSON := func(col string, v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("%s: %w", col, err)
		}
		ub.Set(col, b)
		return nil
	}
	if u.VMState != nil {
		ub.Set(instance.FieldVMState, string(*u.VMState))
	}
	if u.TaskState != nil {
		ub.Set(instance.FieldTaskState, string(*u.TaskState))
	}
	if u.PowerState != nil {
		ub.Set(instance.FieldPowerState, int(*u.PowerState))
	}
	setStr(instance.FieldDisplayName, u.Name)
	setStr(instance.FieldHostname, u.Hostname)
	setStr(instance.FieldDescription, u.Description)
	setStr(instance.FieldHost, u.Host)
	setStr(instance.FieldNode, u.Node)
	setStr(instance.FieldAvailabilityZone, u.AvailabilityZone)
	setStr(instance.FieldAccessIPV4, u.AccessIPv4)
	setStr(instance.FieldAccessIPV6, u.AccessIPv6)
	setStr(instance.FieldImageRef, u.ImageRef)
	setStr(instance.FieldRootDeviceName, u.RootDeviceName)
	setStr(instance.FieldLockedBy, u.LockedBy)
	setStr(instance.FieldLockedReason, u.LockedReason)
	if u.Progress != nil {
		ub.Set(instance.FieldProgress, *u.Progress)
	}
	if u.Locked != nil {
		ub.Set(instance.FieldLocked, *u.Locked)
	}
	if f := u.Flavor; f != nil {
		ub.Set(instance.FieldFlavorID, f.FlavorID).Set(instance.FieldVcpus, f.VCPUs).
			Set(instance.FieldMemoryMB, f.MemoryMB).Set(instance.FieldRootGB, f.RootGB).
			Set(instance.FieldEphemeralGB, f.EphemeralGB)
	}
	if u.ClearResizeFlavors {
		ub.SetNull(instance.FieldFlavorOld).SetNull(instance.FieldFlavorNew)
	}
	tags := normTags(u.Tags)
	if u.Tags != nil && tags == nil {
		ub.SetNull(instance.FieldTagList)
	}
	for _, j := range []struct {
		col string
		set bool
		v   any
	}{
		{instance.FieldFlavor, u.Flavor != nil, u.Flavor},
		{instance.FieldFlavorOld, u.OldFlavor != nil, u.OldFlavor},
		{instance.FieldFlavorNew, u.NewFlavor != nil, u.NewFlavor},
		{instance.FieldMetadata, u.Metadata != nil, u.Metadata},
		{instance.FieldSystemMetadata, u.SystemMetadata != nil, u.SystemMetadata},
		{instance.FieldTagList, tags != nil, tags},
	} {
		if j.set {
			if err := setJSON(j.col, j.v); err != nil {
				return err
			}
		}
	}
	if u.DriverHandle != nil {
		ub.Set(instance.FieldDriverHandle, u.DriverHandle)
	}
	for _, t := range []struct {
		col string
		p   *time.Time
	}{{instance.FieldLaunchedAt, u.LaunchedAt}, {instance.FieldTerminatedAt, u.TerminatedAt}} {
		switch {
		case t.p == nil:
		case t.p.IsZero():
			ub.SetNull(t.col)
		default:
			ub.Set(t.col, norm(*t.p))
		}
	}
	return nil
}
