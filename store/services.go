package store

import (
	"context"
	"strconv"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/store/internal/ent"
	"github.com/novakit/novakit/store/internal/ent/predicate"
	"github.com/novakit/novakit/store/internal/ent/service"
)

// Services is the store's view of service registrations and heartbeats
// (Nova's services table, read by the db servicegroup driver). Get one
// with [Store.Services]; it is a small value, safe for concurrent use by
// many goroutines and processes.
type Services struct{ s *Store }

// Services returns the service repository.
func (s *Store) Services() Services { return Services{s} }

// ServiceFilter selects services for [Services.List]; empty fields do
// not filter.
type ServiceFilter struct {
	Host   string
	Binary string
}

// ServiceUpdate is a partial update of a service; nil fields are left as
// they are.
type ServiceUpdate struct {
	Disabled       *bool
	DisabledReason *string
	ForcedDown     *bool
	Version        *int
}

// Create registers a service and returns it as stored (ID, CreatedAt and
// UpdatedAt set; an empty UUID gets a new one). Host and Binary are
// required, UUID must be a UUID and Version 0 or more, else a
// *compute.InvalidInputError names the field. A service with the same
// (Host, Binary), or the same UUID, gives a *compute.DuplicateError.
func (r Services) Create(ctx context.Context, svc *compute.Service) (*compute.Service, error) {
	if svc == nil {
		return nil, compute.InvalidInput("service", "is required")
	}
	id, err := uuidField("uuid", svc.UUID, true)
	if err != nil {
		return nil, err
	}
	if err := required("host", svc.Host); err != nil {
		return nil, err
	}
	if err := required("binary", svc.Binary); err != nil {
		return nil, err
	}
	if svc.Version < 0 {
		return nil, compute.InvalidInput("version", "must be 0 or more")
	}
	if svc.ReportCount < 0 {
		return nil, compute.InvalidInput("report_count", "must be 0 or more")
	}
	now := r.s.ts()
	c := r.s.w.Service.Create().SetUUID(id).SetHost(svc.Host).SetBinary(svc.Binary).
		SetTopic(svc.Topic).SetReportCount(svc.ReportCount).SetDisabled(svc.Disabled).
		SetDisabledReason(svc.DisabledReason).SetForcedDown(svc.ForcedDown).SetVersion(svc.Version).
		SetCreatedAt(now).SetUpdatedAt(now)
	if !svc.LastSeenUp.IsZero() {
		c.SetLastSeenUp(norm(svc.LastSeenUp))
	}
	row, err := c.Save(ctx)
	if err != nil {
		return nil, r.s.classify(err, "service", svc.Host+"/"+svc.Binary)
	}
	return toService(row), nil
}

// Get returns the service with the UUID, or an error satisfying
// errors.Is(err, compute.ErrNotFound).
func (r Services) Get(ctx context.Context, uuid string) (*compute.Service, error) {
	return r.one(ctx, uuid, service.UUID(uuid))
}

// GetByID returns the service with the row id (the id of compute API
// microversions before 2.53), or ErrNotFound.
func (r Services) GetByID(ctx context.Context, id int64) (*compute.Service, error) {
	return r.one(ctx, strconv.FormatInt(id, 10), service.ID(int(id)))
}

// GetByHostBinary returns the service of the binary on the host, or
// ErrNotFound.
func (r Services) GetByHostBinary(ctx context.Context, host, binary string) (*compute.Service, error) {
	return r.one(ctx, host+"/"+binary, service.Host(host), service.Binary(binary))
}

func (r Services) one(ctx context.Context, key string, where ...predicate.Service) (*compute.Service, error) {
	row, err := r.s.r.Service.Query().Where(where...).Only(ctx)
	if err != nil {
		return nil, r.s.classify(err, "service", key)
	}
	return toService(row), nil
}

// List returns the services that match the filter, in registration
// order.
func (r Services) List(ctx context.Context, f ServiceFilter) ([]*compute.Service, error) {
	q := r.s.r.Service.Query()
	if f.Host != "" {
		q = q.Where(service.Host(f.Host))
	}
	if f.Binary != "" {
		q = q.Where(service.Binary(f.Binary))
	}
	rows, err := q.Order(ent.Asc(service.FieldID)).All(ctx)
	if err != nil {
		return nil, r.s.classify(err, "services", "list")
	}
	out := make([]*compute.Service, len(rows))
	for i, row := range rows {
		out[i] = toService(row)
	}
	return out, nil
}

// Heartbeat records that the service is alive: in one UPDATE statement it
// adds one to ReportCount and sets LastSeenUp and UpdatedAt to now, then
// returns the service as that transaction left it. Concurrent heartbeats
// of the same service, from any number of processes, each count exactly
// once. A missing service gives ErrNotFound.
func (r Services) Heartbeat(ctx context.Context, uuid string) (*compute.Service, error) {
	var out *compute.Service
	err := r.s.withTx(ctx, func(tx *ent.Tx) error {
		now := r.s.ts()
		n, err := tx.Service.Update().Where(service.UUID(uuid)).
			AddReportCount(1).SetLastSeenUp(now).SetUpdatedAt(now).Save(ctx)
		if err != nil {
			return r.s.classify(err, "service", uuid)
		}
		if n == 0 {
			return compute.NotFound("service", uuid)
		}
		row, err := tx.Service.Query().Where(service.UUID(uuid)).Only(ctx)
		if err != nil {
			return r.s.classify(err, "service", uuid)
		}
		out = toService(row)
		return nil
	})
	return out, err
}

// Update applies u to the service and returns it as stored; UpdatedAt
// becomes now. A missing service gives ErrNotFound; a DisabledReason
// longer than 255 characters or a negative Version a
// *compute.InvalidInputError. Idempotent. (Clearing DisabledReason on
// enable, as the API does from 2.53, is the caller's: pass it.)
func (r Services) Update(ctx context.Context, uuid string, u ServiceUpdate) (*compute.Service, error) {
	if u.DisabledReason != nil {
		if err := maxLen("disabled_reason", *u.DisabledReason, maxName); err != nil {
			return nil, err
		}
	}
	if u.Version != nil && *u.Version < 0 {
		return nil, compute.InvalidInput("version", "must be 0 or more")
	}
	var out *compute.Service
	err := r.s.withTx(ctx, func(tx *ent.Tx) error {
		id, err := lockRows(r.s, tx.Service.Query().Where(service.UUID(uuid))).OnlyID(ctx)
		if err != nil {
			return r.s.classify(err, "service", uuid)
		}
		up := tx.Service.UpdateOneID(id).SetUpdatedAt(r.s.ts())
		if u.Disabled != nil {
			up.SetDisabled(*u.Disabled)
		}
		if u.DisabledReason != nil {
			up.SetDisabledReason(*u.DisabledReason)
		}
		if u.ForcedDown != nil {
			up.SetForcedDown(*u.ForcedDown)
		}
		if u.Version != nil {
			up.SetVersion(*u.Version)
		}
		row, err := up.Save(ctx)
		if err != nil {
			return r.s.classify(err, "service", uuid)
		}
		out = toService(row)
		return nil
	})
	return out, err
}

// Delete removes the service's registration. Its compute nodes,
// resource providers and instances are the caller's to check and clean
// up (the API refuses with 409 while the host has instances). A missing
// service gives ErrNotFound.
func (r Services) Delete(ctx context.Context, uuid string) error {
	n, err := r.s.w.Service.Delete().Where(service.UUID(uuid)).Exec(ctx)
	if err != nil {
		return r.s.classify(err, "service", uuid)
	}
	if n == 0 {
		return compute.NotFound("service", uuid)
	}
	return nil
}

func toService(e *ent.Service) *compute.Service {
	s := &compute.Service{
		ID: int64(e.ID), UUID: e.UUID, Host: e.Host, Binary: e.Binary, Topic: e.Topic,
		ReportCount: e.ReportCount, Disabled: e.Disabled, DisabledReason: e.DisabledReason,
		ForcedDown: e.ForcedDown, Version: e.Version, CreatedAt: e.CreatedAt.UTC(), UpdatedAt: e.UpdatedAt.UTC(),
	}
	if e.LastSeenUp != nil {
		s.LastSeenUp = e.LastSeenUp.UTC()
	}
	return s
}
