package store

import (
	"cmp"
	"context"
	"errors"
	"maps"
	"slices"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/store/internal/ent"
	"github.com/novakit/novakit/store/internal/ent/flavor"
	"github.com/novakit/novakit/store/internal/ent/flavorproject"
	"github.com/novakit/novakit/store/internal/ent/predicate"
)

// Flavors is the store's view of flavors, their extra specs and their
// access lists (Nova's flavors, flavor_extra_specs and flavor_projects).
// Get one with [Store.Flavors]; it is a small value, safe for concurrent
// use by many goroutines and processes.
type Flavors struct{ s *Store }

// Flavors returns the flavor repository.
func (s *Store) Flavors() Flavors { return Flavors{s} }

// FlavorFilter selects flavors for [Flavors.List]. Zero fields do not
// filter; all given fields must match.
type FlavorFilter struct {
	// IsPublic keeps public (true) or private (false) flavors; nil keeps
	// both.
	IsPublic *bool
	// ProjectID keeps the flavors the project may use: the public ones
	// and the private ones it has been granted. Nova's non-admin listing
	// is {ProjectID: caller}; its admin default (is_public=true) is
	// {IsPublic: nil, ProjectID: caller} as well.
	ProjectID string
	// MinRAM and MinDisk keep flavors with at least that much memory
	// (MiB) and root disk (GiB), as the API's minRam and minDisk do.
	MinRAM  int
	MinDisk int
	// Name keeps the flavor with exactly this name.
	Name string
}

// FlavorSortKeys are the keys flavors can be sorted by: the compute API's
// flavor sort_key values (less vcpu_weight, which novakit does not keep).
var FlavorSortKeys = []string{
	"created_at", "description", "disabled", "ephemeral_gb", "flavorid", "id", "is_public",
	"memory_mb", "name", "root_gb", "rxtx_factor", "swap", "updated_at", "vcpus",
}

var flavorSortValue = map[string]func(*ent.Flavor) any{
	flavor.FieldCreatedAt:   func(f *ent.Flavor) any { return f.CreatedAt },
	flavor.FieldDescription: func(f *ent.Flavor) any { return f.Description },
	flavor.FieldDisabled:    func(f *ent.Flavor) any { return f.Disabled },
	flavor.FieldEphemeralGB: func(f *ent.Flavor) any { return f.EphemeralGB },
	flavor.FieldFlavorid:    func(f *ent.Flavor) any { return f.Flavorid },
	flavor.FieldID:          func(f *ent.Flavor) any { return f.ID },
	flavor.FieldIsPublic:    func(f *ent.Flavor) any { return f.IsPublic },
	flavor.FieldMemoryMB:    func(f *ent.Flavor) any { return f.MemoryMB },
	flavor.FieldName:        func(f *ent.Flavor) any { return f.Name },
	flavor.FieldRootGB:      func(f *ent.Flavor) any { return f.RootGB },
	flavor.FieldRxtxFactor:  func(f *ent.Flavor) any { return f.RxtxFactor },
	flavor.FieldSwap:        func(f *ent.Flavor) any { return f.Swap },
	flavor.FieldUpdatedAt:   func(f *ent.Flavor) any { return f.UpdatedAt },
	flavor.FieldVcpus:       func(f *ent.Flavor) any { return f.Vcpus },
}

// maxDescription is the longest flavor description Nova accepts.
const maxDescription = 65535

// Create stores a new flavor and returns it as stored (ID, CreatedAt and
// UpdatedAt set). A bad field gives the *compute.InvalidInputError of
// f.Validate (or one naming "description" or "extra_specs"); an
// RXTXFactor of 0 is stored as Nova's default 1.0. A flavor with the same
// FlavorID or Name gives a *compute.DuplicateError whose Key says which.
func (r Flavors) Create(ctx context.Context, f *compute.Flavor) (*compute.Flavor, error) {
	if f == nil {
		return nil, compute.InvalidInput("flavor", "is required")
	}
	if err := f.Validate(); err != nil {
		return nil, err
	}
	if err := maxLen("description", f.Description, maxDescription); err != nil {
		return nil, err
	}
	if err := checkExtraSpecs(f.ExtraSpecs); err != nil {
		return nil, err
	}
	rxtx := f.RXTXFactor
	if rxtx == 0 {
		rxtx = 1
	}
	now := r.s.ts()
	c := r.s.w.Flavor.Create().
		SetFlavorid(f.FlavorID).SetName(f.Name).SetVcpus(f.VCPUs).SetMemoryMB(f.MemoryMB).
		SetRootGB(f.RootGB).SetEphemeralGB(f.EphemeralGB).SetSwap(f.SwapMB).SetRxtxFactor(rxtx).
		SetIsPublic(f.IsPublic).SetDisabled(f.Disabled).SetDescription(f.Description).
		SetCreatedAt(now).SetUpdatedAt(now)
	if len(f.ExtraSpecs) > 0 {
		c.SetExtraSpecs(maps.Clone(f.ExtraSpecs))
	}
	row, err := c.Save(ctx)
	if err != nil {
		err = r.s.classify(err, "flavor", f.FlavorID)
		var d *compute.DuplicateError
		if errors.As(err, &d) {
			// Say which key is taken, as Nova's FlavorIdExists and
			// FlavorExists do.
			if n, qerr := r.s.w.Flavor.Query().Where(flavor.Flavorid(f.FlavorID)).Count(ctx); qerr == nil && n == 0 {
				d.Key = "named " + f.Name
			}
		}
		return nil, err
	}
	return toFlavor(row), nil
}

func checkExtraSpecs(specs map[string]string) error {
	for k, v := range specs {
		if k == "" || len(k) > maxName {
			return compute.InvalidInput("extra_specs", "key %q must be 1 to %d characters", k, maxName)
		}
		if len(v) > maxName {
			return compute.InvalidInput("extra_specs", "value of %q longer than %d characters", k, maxName)
		}
	}
	return nil
}

// Get returns the flavor with the API id flavorID, or an error satisfying
// errors.Is(err, compute.ErrNotFound).
func (r Flavors) Get(ctx context.Context, flavorID string) (*compute.Flavor, error) {
	row, err := r.s.r.Flavor.Query().Where(flavor.Flavorid(flavorID)).Only(ctx)
	if err != nil {
		return nil, r.s.classify(err, "flavor", flavorID)
	}
	return toFlavor(row), nil
}

// GetByName returns the flavor with the name, or an error satisfying
// errors.Is(err, compute.ErrNotFound).
func (r Flavors) GetByName(ctx context.Context, name string) (*compute.Flavor, error) {
	row, err := r.s.r.Flavor.Query().Where(flavor.Name(name)).Only(ctx)
	if err != nil {
		return nil, r.s.classify(err, "flavor named", name)
	}
	return toFlavor(row), nil
}

// List returns the flavors that match the filter, sorted and paged as
// opts says. Without Sort they come by flavorid ascending (compared as
// strings), as Nova lists them; ties are broken by the row id. The marker
// is a flavorid; one that does not exist gives a
// *compute.MarkerNotFoundError (errors.Is compute.ErrNotFound). A sort key
// outside FlavorSortKeys gives a *compute.InvalidInputError naming
// "sort_key". Paging is keyset paging, so pages neither skip nor repeat
// flavors while others write.
func (r Flavors) List(ctx context.Context, f FlavorFilter, opts compute.ListOptions) ([]*compute.Flavor, error) {
	if opts.Limit < 0 {
		return nil, compute.InvalidInput("limit", "must be 0 or more")
	}
	sortKeys := opts.Sort
	if len(sortKeys) == 0 {
		sortKeys = []compute.SortKey{{Key: "flavorid"}}
	}
	keys := make([]keyCol, 0, len(sortKeys)+1)
	hasID := false
	for _, k := range sortKeys {
		if _, ok := flavorSortValue[k.Key]; !ok {
			return nil, compute.InvalidInput("sort_key", "%q is not a sort key of flavors", k.Key)
		}
		hasID = hasID || k.Key == flavor.FieldID
		keys = append(keys, keyCol{col: k.Key, desc: k.Desc})
	}
	if !hasID {
		keys = append(keys, keyCol{col: flavor.FieldID, desc: sortKeys[0].Desc})
	}
	var preds []predicate.Flavor
	if f.IsPublic != nil {
		preds = append(preds, flavor.IsPublic(*f.IsPublic))
	}
	if f.ProjectID != "" {
		preds = append(preds, flavor.Or(flavor.IsPublic(true), flavor.HasProjectsWith(flavorproject.ProjectID(f.ProjectID))))
	}
	if f.MinRAM > 0 {
		preds = append(preds, flavor.MemoryMBGTE(f.MinRAM))
	}
	if f.MinDisk > 0 {
		preds = append(preds, flavor.RootGBGTE(f.MinDisk))
	}
	if f.Name != "" {
		preds = append(preds, flavor.Name(f.Name))
	}
	if opts.Marker != "" {
		m, err := r.s.r.Flavor.Query().Where(flavor.Flavorid(opts.Marker)).Only(ctx)
		if ent.IsNotFound(err) {
			return nil, &compute.MarkerNotFoundError{Marker: opts.Marker}
		}
		if err != nil {
			return nil, r.s.classify(err, "flavor", opts.Marker)
		}
		for i := range keys {
			keys[i].val = flavorSortValue[keys[i].col](m)
		}
		preds = append(preds, afterKeys(keys))
	}
	q := r.s.r.Flavor.Query().Where(preds...).Order(orderKeys(keys))
	if opts.Limit > 0 {
		q = q.Limit(opts.Limit)
	}
	rows, err := q.All(ctx)
	if err != nil {
		return nil, r.s.classify(err, "flavors", "list")
	}
	out := make([]*compute.Flavor, len(rows))
	for i, row := range rows {
		out[i] = toFlavor(row)
	}
	return out, nil
}

// UpdateDescription sets the flavor's description (the only thing the
// compute API lets change, from 2.55) and returns the flavor as stored.
// A missing flavor gives ErrNotFound; a description longer than 65535
// characters a *compute.InvalidInputError naming "description".
// Idempotent.
func (r Flavors) UpdateDescription(ctx context.Context, flavorID, description string) (*compute.Flavor, error) {
	if err := maxLen("description", description, maxDescription); err != nil {
		return nil, err
	}
	var out *compute.Flavor
	err := r.s.withTx(ctx, func(tx *ent.Tx) error {
		id, err := r.lock(ctx, tx, flavorID)
		if err != nil {
			return err
		}
		row, err := tx.Flavor.UpdateOneID(id).SetDescription(description).SetUpdatedAt(r.s.ts()).Save(ctx)
		if err != nil {
			return r.s.classify(err, "flavor", flavorID)
		}
		out = toFlavor(row)
		return nil
	})
	return out, err
}

// Delete removes the flavor with its extra specs and access list, in one
// transaction. Instances keep their own copy of the flavor and are not
// touched. A missing flavor gives ErrNotFound, so a repeated Delete
// reports the flavor gone.
func (r Flavors) Delete(ctx context.Context, flavorID string) error {
	return r.s.withTx(ctx, func(tx *ent.Tx) error {
		id, err := r.lock(ctx, tx, flavorID)
		if err != nil {
			return err
		}
		if _, err := tx.FlavorProject.Delete().Where(flavorproject.FlavorID(id)).Exec(ctx); err != nil {
			return r.s.classify(err, "flavor access", flavorID)
		}
		if err := tx.Flavor.DeleteOneID(id).Exec(ctx); err != nil {
			return r.s.classify(err, "flavor", flavorID)
		}
		return nil
	})
}

// lock locks the flavor's row for the rest of the transaction and returns
// its id.
func (r Flavors) lock(ctx context.Context, tx *ent.Tx, flavorID string) (int, error) {
	row, err := lockRows(r.s, tx.Flavor.Query().Where(flavor.Flavorid(flavorID))).Only(ctx)
	if err != nil {
		return 0, r.s.classify(err, "flavor", flavorID)
	}
	return row.ID, nil
}

// SetExtraSpecs merges specs into the flavor's extra specs (keys given
// replace their values, others stay) and returns the extra specs as
// stored. The merge is one transaction holding the flavor's row, so
// concurrent calls never lose each other's keys. A missing flavor gives
// ErrNotFound; an empty key or a key or value longer than 255 characters
// a *compute.InvalidInputError naming "extra_specs". Idempotent.
func (r Flavors) SetExtraSpecs(ctx context.Context, flavorID string, specs map[string]string) (map[string]string, error) {
	if err := checkExtraSpecs(specs); err != nil {
		return nil, err
	}
	var out map[string]string
	err := r.s.withTx(ctx, func(tx *ent.Tx) error {
		row, err := lockRows(r.s, tx.Flavor.Query().Where(flavor.Flavorid(flavorID))).Only(ctx)
		if err != nil {
			return r.s.classify(err, "flavor", flavorID)
		}
		merged := maps.Clone(row.ExtraSpecs)
		if merged == nil {
			merged = map[string]string{}
		}
		maps.Copy(merged, specs)
		if err := tx.Flavor.UpdateOneID(row.ID).SetExtraSpecs(merged).SetUpdatedAt(r.s.ts()).Exec(ctx); err != nil {
			return r.s.classify(err, "flavor", flavorID)
		}
		out = nilIfEmpty(merged)
		return nil
	})
	return out, err
}

// DeleteExtraSpec removes one extra spec. A missing flavor or a key the
// flavor does not have gives ErrNotFound (a *compute.NotFoundError of
// kind "flavor" or "flavor extra spec").
func (r Flavors) DeleteExtraSpec(ctx context.Context, flavorID, key string) error {
	return r.s.withTx(ctx, func(tx *ent.Tx) error {
		row, err := lockRows(r.s, tx.Flavor.Query().Where(flavor.Flavorid(flavorID))).Only(ctx)
		if err != nil {
			return r.s.classify(err, "flavor", flavorID)
		}
		if _, ok := row.ExtraSpecs[key]; !ok {
			return compute.NotFound("flavor extra spec", key)
		}
		specs := maps.Clone(row.ExtraSpecs)
		delete(specs, key)
		if err := tx.Flavor.UpdateOneID(row.ID).SetExtraSpecs(specs).SetUpdatedAt(r.s.ts()).Exec(ctx); err != nil {
			return r.s.classify(err, "flavor", flavorID)
		}
		return nil
	})
}

// AddAccess grants the project the use of a private flavor. A missing
// flavor gives ErrNotFound; a public flavor a *ConflictError (Nova
// answers 409 from 2.7); a project that already has access a
// *compute.DuplicateError (Nova's FlavorAccessExists, 409). Both
// conflicts satisfy errors.Is(err, compute.ErrConflict).
func (r Flavors) AddAccess(ctx context.Context, flavorID, projectID string) error {
	if err := required("tenant", projectID); err != nil {
		return err
	}
	return r.s.withTx(ctx, func(tx *ent.Tx) error {
		row, err := lockRows(r.s, tx.Flavor.Query().Where(flavor.Flavorid(flavorID))).Only(ctx)
		if err != nil {
			return r.s.classify(err, "flavor", flavorID)
		}
		if row.IsPublic {
			return conflict("flavor", flavorID, "a public flavor has no access list")
		}
		n, err := tx.FlavorProject.Query().Where(flavorproject.FlavorID(row.ID), flavorproject.ProjectID(projectID)).Count(ctx)
		if err != nil {
			return r.s.classify(err, "flavor access", flavorID)
		}
		if n > 0 {
			return &compute.DuplicateError{Kind: "flavor access", Key: flavorID + " for project " + projectID}
		}
		err = tx.FlavorProject.Create().SetFlavorID(row.ID).SetProjectID(projectID).Exec(ctx)
		return r.s.classify(err, "flavor access", flavorID+" for project "+projectID)
	})
}

// RemoveAccess takes the project's access to the flavor away. A missing
// flavor, or a project without access, gives ErrNotFound (Nova's
// FlavorAccessNotFound, 404).
func (r Flavors) RemoveAccess(ctx context.Context, flavorID, projectID string) error {
	return r.s.withTx(ctx, func(tx *ent.Tx) error {
		id, err := r.lock(ctx, tx, flavorID)
		if err != nil {
			return err
		}
		n, err := tx.FlavorProject.Delete().Where(flavorproject.FlavorID(id), flavorproject.ProjectID(projectID)).Exec(ctx)
		if err != nil {
			return r.s.classify(err, "flavor access", flavorID)
		}
		if n == 0 {
			return compute.NotFound("flavor access", flavorID+" for project "+projectID)
		}
		return nil
	})
}

// ListAccess returns the projects granted the flavor, sorted by project
// id. A public flavor has none (Nova's API answers 404 "Access list not
// available for public flavors"; that is the API's to decide). A missing
// flavor gives ErrNotFound.
func (r Flavors) ListAccess(ctx context.Context, flavorID string) ([]compute.FlavorAccess, error) {
	row, err := r.s.r.Flavor.Query().Where(flavor.Flavorid(flavorID)).WithProjects().Only(ctx)
	if err != nil {
		return nil, r.s.classify(err, "flavor", flavorID)
	}
	out := make([]compute.FlavorAccess, len(row.Edges.Projects))
	for i, p := range row.Edges.Projects {
		out[i] = compute.FlavorAccess{FlavorID: flavorID, ProjectID: p.ProjectID}
	}
	slices.SortFunc(out, func(a, b compute.FlavorAccess) int { return cmp.Compare(a.ProjectID, b.ProjectID) })
	return out, nil
}

func toFlavor(e *ent.Flavor) *compute.Flavor {
	return &compute.Flavor{
		ID: int64(e.ID), FlavorID: e.Flavorid, Name: e.Name, VCPUs: e.Vcpus, MemoryMB: e.MemoryMB,
		RootGB: e.RootGB, EphemeralGB: e.EphemeralGB, SwapMB: e.Swap, RXTXFactor: e.RxtxFactor,
		IsPublic: e.IsPublic, Disabled: e.Disabled, Description: e.Description,
		ExtraSpecs: nilIfEmpty(e.ExtraSpecs), CreatedAt: e.CreatedAt.UTC(), UpdatedAt: e.UpdatedAt.UTC(),
	}
}
