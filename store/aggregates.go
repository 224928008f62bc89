package store

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/store/internal/ent"
	"github.com/novakit/novakit/store/internal/ent/aggregate"
	"github.com/novakit/novakit/store/internal/ent/aggregatehost"
	"github.com/novakit/novakit/store/internal/ent/predicate"
)

// Aggregates is the store's view of host aggregates: named sets of hosts
// with metadata, and through the metadata key availability_zone the
// availability zones. Get one with [Store.Aggregates]; it is a small
// value, safe for concurrent use by many goroutines and processes.
//
// Every write to an aggregate holds its row for the transaction, so
// writes to one aggregate (adding a host while another deletes it, two
// metadata merges) are serialized. The rule that a host is in at most one
// availability zone is checked against the other aggregates as they are
// committed when the write runs; as in Nova, two concurrent writes to two
// different aggregates can still both pass it.
type Aggregates struct{ s *Store }

// Aggregates returns the aggregate repository.
func (s *Store) Aggregates() Aggregates { return Aggregates{s} }

// AggregateUpdate changes an aggregate's name or availability zone; nil
// fields are left as they are.
type AggregateUpdate struct {
	Name *string
	// AvailabilityZone sets the availability_zone metadata key; it may
	// not be empty (as in Nova; remove the key with SetMetadata).
	AvailabilityZone *string
}

func aggKey(id int) string { return strconv.Itoa(id) }

// Create stores an aggregate with its metadata and hosts (if any) in one
// transaction and returns it as stored (ID, CreatedAt, UpdatedAt set; an
// empty UUID gets a new one). Name is required, the UUID must be a UUID,
// metadata keys 1 to 255 characters and values at most 255, and an
// availability_zone value non-empty, else a *compute.InvalidInputError
// names the field. A name (or UUID) in use gives a
// *compute.DuplicateError (Nova's AggregateNameExists, 409); a host that
// the zone would put in two zones a *ConflictError.
func (r Aggregates) Create(ctx context.Context, a *compute.Aggregate) (*compute.Aggregate, error) {
	if a == nil {
		return nil, compute.InvalidInput("aggregate", "is required")
	}
	id, err := uuidField("uuid", a.UUID, true)
	if err != nil {
		return nil, err
	}
	if err := required("name", a.Name); err != nil {
		return nil, err
	}
	md := make(map[string]*string, len(a.Metadata))
	for k, v := range a.Metadata {
		md[k] = &v
	}
	if err := checkAggregateMetadata(md); err != nil {
		return nil, err
	}
	for _, h := range a.Hosts {
		if err := required("host", h); err != nil {
			return nil, err
		}
	}
	var out *compute.Aggregate
	err = r.s.withTx(ctx, func(tx *ent.Tx) error {
		now := r.s.ts()
		c := tx.Aggregate.Create().SetUUID(id).SetName(a.Name).SetCreatedAt(now).SetUpdatedAt(now)
		if len(a.Metadata) > 0 {
			c.SetMetadata(maps.Clone(a.Metadata))
		}
		row, err := c.Save(ctx)
		if err != nil {
			return r.s.classify(err, "aggregate", a.Name)
		}
		for _, h := range a.Hosts {
			if err := r.addHost(ctx, tx, row, h); err != nil {
				return err
			}
		}
		out, err = r.load(ctx, tx.Client(), aggKey(row.ID), aggregate.ID(row.ID))
		return err
	})
	return out, err
}

func checkAggregateMetadata(md map[string]*string) error {
	for k, v := range md {
		if k == "" || len(k) > maxName {
			return compute.InvalidInput("metadata", "key %q must be 1 to %d characters", k, maxName)
		}
		if v == nil {
			continue
		}
		if len(*v) > maxName {
			return compute.InvalidInput("metadata", "value of %q longer than %d characters", k, maxName)
		}
		if k == compute.AggregateAZKey && *v == "" {
			return compute.InvalidInput(compute.AggregateAZKey, "may not be empty")
		}
	}
	return nil
}

// Get returns the aggregate with the id, with its hosts and metadata, or
// an error satisfying errors.Is(err, compute.ErrNotFound).
func (r Aggregates) Get(ctx context.Context, id int64) (*compute.Aggregate, error) {
	return r.load(ctx, r.s.r, strconv.FormatInt(id, 10), aggregate.ID(int(id)))
}

// GetByUUID returns the aggregate with the UUID, or ErrNotFound.
func (r Aggregates) GetByUUID(ctx context.Context, uuid string) (*compute.Aggregate, error) {
	return r.load(ctx, r.s.r, uuid, aggregate.UUID(uuid))
}

func (r Aggregates) load(ctx context.Context, c *ent.Client, key string, where predicate.Aggregate) (*compute.Aggregate, error) {
	row, err := c.Aggregate.Query().Where(where).WithHosts(orderHosts).Only(ctx)
	if err != nil {
		return nil, r.s.classify(err, "aggregate", key)
	}
	return toAggregate(row), nil
}

func orderHosts(q *ent.AggregateHostQuery) { q.Order(ent.Asc(aggregatehost.FieldID)) }

// List returns every aggregate with its hosts and metadata, in creation
// order.
func (r Aggregates) List(ctx context.Context) ([]*compute.Aggregate, error) {
	return r.list(ctx, r.s.r.Aggregate.Query())
}

// ListByHost returns the aggregates the host is in, in creation order.
func (r Aggregates) ListByHost(ctx context.Context, host string) ([]*compute.Aggregate, error) {
	return r.list(ctx, r.s.r.Aggregate.Query().Where(aggregate.HasHostsWith(aggregatehost.Host(host))))
}

func (r Aggregates) list(ctx context.Context, q *ent.AggregateQuery) ([]*compute.Aggregate, error) {
	rows, err := q.Order(ent.Asc(aggregate.FieldID)).WithHosts(orderHosts).All(ctx)
	if err != nil {
		return nil, r.s.classify(err, "aggregates", "list")
	}
	out := make([]*compute.Aggregate, len(rows))
	for i, row := range rows {
		out[i] = toAggregate(row)
	}
	return out, nil
}

// HostAvailabilityZones returns the availability zone of every host that
// is in an aggregate with an availability_zone. Hosts not in the map are
// in the default zone (compute.DefaultAvailabilityZone for computes).
// Should a host be in aggregates of different zones (which the writes
// here refuse, but an old database may hold), its zone is their sorted
// names joined with commas, as Nova shows it.
func (r Aggregates) HostAvailabilityZones(ctx context.Context) (map[string]string, error) {
	rows, err := r.s.r.Aggregate.Query().Where(aggregate.HasHosts()).WithHosts().All(ctx)
	if err != nil {
		return nil, r.s.classify(err, "aggregates", "availability zones")
	}
	zones := map[string][]string{}
	for _, a := range rows {
		az := a.Metadata[compute.AggregateAZKey]
		if az == "" {
			continue
		}
		for _, h := range a.Edges.Hosts {
			if !slices.Contains(zones[h.Host], az) {
				zones[h.Host] = append(zones[h.Host], az)
			}
		}
	}
	out := make(map[string]string, len(zones))
	for h, zs := range zones {
		slices.Sort(zs)
		out[h] = strings.Join(zs, ",")
	}
	return out, nil
}

// lock locks the aggregate's row for the rest of the transaction.
func (r Aggregates) lock(ctx context.Context, tx *ent.Tx, id int64) (*ent.Aggregate, error) {
	row, err := lockRows(r.s, tx.Aggregate.Query().Where(aggregate.ID(int(id)))).Only(ctx)
	if err != nil {
		return nil, r.s.classify(err, "aggregate", strconv.FormatInt(id, 10))
	}
	return row, nil
}

// checkZone refuses to give hosts the zone az through aggregate a when
// another aggregate already puts one of them in a different zone.
func (r Aggregates) checkZone(ctx context.Context, tx *ent.Tx, a *ent.Aggregate, hosts []string, az string) error {
	if az == "" || len(hosts) == 0 {
		return nil
	}
	others, err := tx.Aggregate.Query().
		Where(aggregate.IDNEQ(a.ID), aggregate.HasHostsWith(aggregatehost.HostIn(hosts...))).
		Order(ent.Asc(aggregate.FieldID)).WithHosts(orderHosts).All(ctx)
	if err != nil {
		return r.s.classify(err, "aggregates", "availability zones")
	}
	for _, o := range others {
		oz := o.Metadata[compute.AggregateAZKey]
		if oz == "" || oz == az {
			continue
		}
		for _, h := range o.Edges.Hosts {
			if slices.Contains(hosts, h.Host) {
				return conflict("aggregate", aggKey(a.ID),
					"host %s is already in availability zone %q (aggregate %s), so it cannot join zone %q", h.Host, oz, o.Name, az)
			}
		}
	}
	return nil
}

// addHost adds a host to the aggregate, whose row tx holds.
func (r Aggregates) addHost(ctx context.Context, tx *ent.Tx, a *ent.Aggregate, host string) error {
	n, err := tx.AggregateHost.Query().Where(aggregatehost.AggregateID(a.ID), aggregatehost.Host(host)).Count(ctx)
	if err != nil {
		return r.s.classify(err, "aggregate host", host)
	}
	if n > 0 {
		return &compute.DuplicateError{Kind: "aggregate host", Key: host + " in aggregate " + aggKey(a.ID)}
	}
	if err := r.checkZone(ctx, tx, a, []string{host}, a.Metadata[compute.AggregateAZKey]); err != nil {
		return err
	}
	err = tx.AggregateHost.Create().SetAggregateID(a.ID).SetHost(host).Exec(ctx)
	return r.s.classify(err, "aggregate host", host)
}

// Update renames the aggregate or changes its availability zone, in one
// transaction, and returns it as stored; UpdatedAt becomes now. A missing
// aggregate gives ErrNotFound; a name in use a *compute.DuplicateError
// (Nova: 409); an empty name or zone a *compute.InvalidInputError; a zone
// that would put one of the aggregate's hosts in two zones a
// *ConflictError (Nova answers 400 for this in update; the API layer
// maps it).
func (r Aggregates) Update(ctx context.Context, id int64, u AggregateUpdate) (*compute.Aggregate, error) {
	if u.Name != nil {
		if err := required("name", *u.Name); err != nil {
			return nil, err
		}
	}
	if u.AvailabilityZone != nil {
		if err := required(compute.AggregateAZKey, *u.AvailabilityZone); err != nil {
			return nil, err
		}
	}
	out, err := r.write(ctx, id, func(tx *ent.Tx, a *ent.Aggregate, up *ent.AggregateUpdateOne) error {
		if u.Name != nil {
			up.SetName(*u.Name)
		}
		if u.AvailabilityZone != nil {
			return r.setMetadata(ctx, tx, a, up, map[string]*string{compute.AggregateAZKey: u.AvailabilityZone})
		}
		return nil
	})
	var dup *compute.DuplicateError
	if errors.As(err, &dup) && u.Name != nil {
		dup.Key = *u.Name
	}
	return out, err
}

// write runs fn on the locked aggregate in a transaction, saves the
// update it prepared (with UpdatedAt now) and returns the aggregate as
// stored.
func (r Aggregates) write(ctx context.Context, id int64, fn func(tx *ent.Tx, a *ent.Aggregate, up *ent.AggregateUpdateOne) error) (*compute.Aggregate, error) {
	var out *compute.Aggregate
	key := strconv.FormatInt(id, 10)
	err := r.s.withTx(ctx, func(tx *ent.Tx) error {
		a, err := r.lock(ctx, tx, id)
		if err != nil {
			return err
		}
		up := tx.Aggregate.UpdateOne(a).SetUpdatedAt(r.s.ts())
		if err := fn(tx, a, up); err != nil {
			return err
		}
		if err := up.Exec(ctx); err != nil {
			return r.s.classify(err, "aggregate", key)
		}
		out, err = r.load(ctx, tx.Client(), key, aggregate.ID(a.ID))
		return err
	})
	return out, err
}

func (r Aggregates) setMetadata(ctx context.Context, tx *ent.Tx, a *ent.Aggregate, up *ent.AggregateUpdateOne, md map[string]*string) error {
	merged := maps.Clone(a.Metadata)
	if merged == nil {
		merged = map[string]string{}
	}
	for k, v := range md {
		if v == nil {
			delete(merged, k)
		} else {
			merged[k] = *v
		}
	}
	if az := merged[compute.AggregateAZKey]; az != "" && az != a.Metadata[compute.AggregateAZKey] {
		hosts, err := tx.AggregateHost.Query().Where(aggregatehost.AggregateID(a.ID)).
			Select(aggregatehost.FieldHost).Strings(ctx)
		if err != nil {
			return r.s.classify(err, "aggregate hosts", aggKey(a.ID))
		}
		if err := r.checkZone(ctx, tx, a, hosts, az); err != nil {
			return err
		}
	}
	up.SetMetadata(merged)
	return nil
}

// SetMetadata merges md into the aggregate's metadata: a key with a
// value sets it, a key with nil removes it (a key that is not there is
// ignored), other keys stay. It runs in one transaction holding the
// aggregate's row and returns the aggregate as stored. A missing
// aggregate gives ErrNotFound; bad keys or values (see Create) a
// *compute.InvalidInputError; a new availability zone that would put one
// of the aggregate's hosts in two zones a *ConflictError (Nova answers
// 400 for this in set_metadata; the API layer maps it).
func (r Aggregates) SetMetadata(ctx context.Context, id int64, md map[string]*string) (*compute.Aggregate, error) {
	if err := checkAggregateMetadata(md); err != nil {
		return nil, err
	}
	return r.write(ctx, id, func(tx *ent.Tx, a *ent.Aggregate, up *ent.AggregateUpdateOne) error {
		return r.setMetadata(ctx, tx, a, up, md)
	})
}

// AddHost adds the host to the aggregate and returns the aggregate as
// stored. A missing aggregate gives ErrNotFound; an empty host a
// *compute.InvalidInputError; a host already in the aggregate a
// *compute.DuplicateError (Nova's AggregateHostExists, 409); a host that
// another aggregate puts in a different availability zone than this
// one's a *ConflictError (Nova's InvalidAggregateActionAdd, 409). Both
// satisfy errors.Is(err, compute.ErrConflict). Whether the host runs a
// compute service is the caller's to check.
func (r Aggregates) AddHost(ctx context.Context, id int64, host string) (*compute.Aggregate, error) {
	if err := required("host", host); err != nil {
		return nil, err
	}
	return r.write(ctx, id, func(tx *ent.Tx, a *ent.Aggregate, _ *ent.AggregateUpdateOne) error {
		return r.addHost(ctx, tx, a, host)
	})
}

// RemoveHost takes the host out of the aggregate and returns the
// aggregate as stored. A missing aggregate, or a host not in it, gives
// ErrNotFound (Nova's AggregateHostNotFound, 404).
func (r Aggregates) RemoveHost(ctx context.Context, id int64, host string) (*compute.Aggregate, error) {
	return r.write(ctx, id, func(tx *ent.Tx, a *ent.Aggregate, _ *ent.AggregateUpdateOne) error {
		n, err := tx.AggregateHost.Delete().Where(aggregatehost.AggregateID(a.ID), aggregatehost.Host(host)).Exec(ctx)
		if err != nil {
			return r.s.classify(err, "aggregate host", host)
		}
		if n == 0 {
			return compute.NotFound("aggregate host", host+" in aggregate "+aggKey(a.ID))
		}
		return nil
	})
}

// Delete removes an aggregate that has no hosts, with its metadata. A
// missing aggregate gives ErrNotFound. An aggregate that still has hosts
// is refused with a *ConflictError (errors.Is compute.ErrConflict): the
// request is well formed and would succeed once the hosts are removed,
// which is what a conflict means in the compute domain. Nova's API
// answers 400 here (InvalidAggregateActionDelete, "host aggregate is not
// empty"), not 409; the API layer keeps that status for compatibility by
// mapping this error from Delete to 400.
func (r Aggregates) Delete(ctx context.Context, id int64) error {
	return r.s.withTx(ctx, func(tx *ent.Tx) error {
		a, err := r.lock(ctx, tx, id)
		if err != nil {
			return err
		}
		n, err := tx.AggregateHost.Query().Where(aggregatehost.AggregateID(a.ID)).Count(ctx)
		if err != nil {
			return r.s.classify(err, "aggregate hosts", aggKey(a.ID))
		}
		if n > 0 {
			return conflict("aggregate", aggKey(a.ID), "host aggregate is not empty (%d hosts)", n)
		}
		return r.s.classify(tx.Aggregate.DeleteOne(a).Exec(ctx), "aggregate", aggKey(a.ID))
	})
}

func toAggregate(e *ent.Aggregate) *compute.Aggregate {
	a := &compute.Aggregate{
		ID: int64(e.ID), UUID: e.UUID, Name: e.Name, Hosts: []string{},
		Metadata: maps.Clone(e.Metadata), CreatedAt: e.CreatedAt.UTC(), UpdatedAt: e.UpdatedAt.UTC(),
	}
	if a.Metadata == nil {
		a.Metadata = map[string]string{}
	}
	for _, h := range e.Edges.Hosts {
		a.Hosts = append(a.Hosts, h.Host)
	}
	return a
}
