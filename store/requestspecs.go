package store

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/store/internal/ent"
	"github.com/novakit/novakit/store/internal/ent/requestspec"
)

// RequestSpecs is the store's view of the scheduling requests kept per
// instance, so that moves, reschedules and unshelves can reuse them (Nova's
// request_specs, in the API database). Get one with [Store.RequestSpecs];
// it is a small value, safe for concurrent use.
type RequestSpecs struct{ s *Store }

// RequestSpecs returns the request spec repository.
func (s *Store) RequestSpecs() RequestSpecs { return RequestSpecs{s} }

// Save stores the spec as the request spec of spec.InstanceUUID,
// replacing any the instance had, in one statement (an upsert), so
// concurrent Saves leave one of the specs whole, the last one. The spec
// is kept as JSON. An InstanceUUID that is not a UUID gives a
// *compute.InvalidInputError naming "instance_uuid". Idempotent.
func (r RequestSpecs) Save(ctx context.Context, spec *compute.RequestSpec) error {
	if spec == nil {
		return compute.InvalidInput("request_spec", "is required")
	}
	if _, err := uuidField("instance_uuid", spec.InstanceUUID, false); err != nil {
		return err
	}
	b, err := json.Marshal(spec)
	if err != nil {
		return compute.InvalidInput("request_spec", "cannot be encoded: %v", err)
	}
	err = r.s.writeOne(ctx, func(c *ent.Client) error {
		return c.RequestSpec.Create().SetInstanceUUID(spec.InstanceUUID).SetSpec(string(b)).
			SetUpdatedAt(r.s.ts()).
			OnConflictColumns(requestspec.FieldInstanceUUID).UpdateSpec().UpdateUpdatedAt().Exec(ctx)
	})
	return r.s.classify(err, "request spec", spec.InstanceUUID)
}

// Get returns the instance's request spec, or an error satisfying
// errors.Is(err, compute.ErrNotFound).
func (r RequestSpecs) Get(ctx context.Context, instanceUUID string) (*compute.RequestSpec, error) {
	row, err := r.s.r.RequestSpec.Query().Where(requestspec.InstanceUUID(instanceUUID)).Only(ctx)
	if err != nil {
		return nil, r.s.classify(err, "request spec", instanceUUID)
	}
	return decodeSpec(row)
}

func decodeSpec(row *ent.RequestSpec) (*compute.RequestSpec, error) {
	var spec compute.RequestSpec
	if err := json.Unmarshal([]byte(row.Spec), &spec); err != nil {
		return nil, fmt.Errorf("store: request spec %s: stored JSON does not decode: %w", row.InstanceUUID, err)
	}
	return &spec, nil
}

// Delete removes the instance's request spec. A missing one gives
// ErrNotFound.
func (r RequestSpecs) Delete(ctx context.Context, instanceUUID string) error {
	n, err := r.s.w.RequestSpec.Delete().Where(requestspec.InstanceUUID(instanceUUID)).Exec(ctx)
	if err != nil {
		return r.s.classify(err, "request spec", instanceUUID)
	}
	if n == 0 {
		return compute.NotFound("request spec", instanceUUID)
	}
	return nil
}
