package store

import (
	"context"

	entsql "entgo.io/ent/dialect/sql"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/store/internal/ent"
	"github.com/novakit/novakit/store/internal/ent/instancefault"
)

// Faults is the store's view of instance faults: why an instance went to
// ERROR or why an action on it failed. The API shows the newest one as
// the server's "fault". Get one with [Store.Faults]; it is a small value,
// safe for concurrent use. Faults are only ever added.
type Faults struct{ s *Store }

// Faults returns the instance fault repository.
func (s *Store) Faults() Faults { return Faults{s} }

// Add records a fault and returns it as stored (ID set; CreatedAt now
// unless given; a Code of 0 becomes 500, as Nova records errors without
// one). InstanceUUID must be a UUID and Message is required, else a
// *compute.InvalidInputError names the field. Not idempotent: each call
// adds a fault.
func (r Faults) Add(ctx context.Context, f *compute.InstanceFault) (*compute.InstanceFault, error) {
	if f == nil {
		return nil, compute.InvalidInput("fault", "is required")
	}
	if _, err := uuidField("instance_uuid", f.InstanceUUID, false); err != nil {
		return nil, err
	}
	if f.Message == "" {
		return nil, compute.InvalidInput("message", "is required")
	}
	if err := maxLen("host", f.Host, maxName); err != nil {
		return nil, err
	}
	code := f.Code
	if code == 0 {
		code = 500
	}
	created := norm(f.CreatedAt)
	if created.IsZero() {
		created = r.s.ts()
	}
	row, err := r.s.w.InstanceFault.Create().SetInstanceUUID(f.InstanceUUID).SetCode(code).
		SetMessage(f.Message).SetDetails(f.Details).SetHost(f.Host).SetCreatedAt(created).Save(ctx)
	if err != nil {
		return nil, r.s.classify(err, "instance fault", f.InstanceUUID)
	}
	return toFault(row), nil
}

// faultChunk bounds the uuids of one Latest query, well under every
// dialect's limit on bound parameters.
const faultChunk = 1000

// Latest returns the newest fault (the last added) of each of the
// instances, keyed by instance uuid; instances without faults have no
// entry. It runs one query per thousand uuids, for the API's server
// listings.
func (r Faults) Latest(ctx context.Context, instanceUUIDs []string) (map[string]*compute.InstanceFault, error) {
	out := make(map[string]*compute.InstanceFault)
	for len(instanceUUIDs) > 0 {
		chunk := instanceUUIDs[:min(len(instanceUUIDs), faultChunk)]
		instanceUUIDs = instanceUUIDs[len(chunk):]
		args := make([]any, len(chunk))
		for i, u := range chunk {
			args[i] = u
		}
		rows, err := r.s.r.InstanceFault.Query().Where(func(sel *entsql.Selector) {
			d := entsql.Dialect(sel.Dialect())
			t := d.Table(instancefault.Table).As("newest")
			newest := d.Select(entsql.Max(t.C(instancefault.FieldID))).From(t).
				Where(entsql.In(t.C(instancefault.FieldInstanceUUID), args...)).
				GroupBy(t.C(instancefault.FieldInstanceUUID))
			sel.Where(entsql.In(sel.C(instancefault.FieldID), newest))
		}).All(ctx)
		if err != nil {
			return nil, r.s.classify(err, "instance faults", "latest")
		}
		for _, row := range rows {
			out[row.InstanceUUID] = toFault(row)
		}
	}
	return out, nil
}

// List returns the instance's faults, newest first.
func (r Faults) List(ctx context.Context, instanceUUID string) ([]*compute.InstanceFault, error) {
	rows, err := r.s.r.InstanceFault.Query().Where(instancefault.InstanceUUID(instanceUUID)).
		Order(ent.Desc(instancefault.FieldID)).All(ctx)
	if err != nil {
		return nil, r.s.classify(err, "instance faults", instanceUUID)
	}
	out := make([]*compute.InstanceFault, len(rows))
	for i, row := range rows {
		out[i] = toFault(row)
	}
	return out, nil
}

func toFault(e *ent.InstanceFault) *compute.InstanceFault {
	return &compute.InstanceFault{
		ID: int64(e.ID), InstanceUUID: e.InstanceUUID, Code: e.Code, Message: e.Message,
		Details: e.Details, Host: e.Host, CreatedAt: e.CreatedAt.UTC(),
	}
}
