package placementstore

import (
	"context"
	"fmt"
	"slices"

	"github.com/novakit/novakit/placement"
)

// nameLists are the custom resource classes and traits the Index knows,
// as the scratch indexes of writes need them.
type nameLists struct{ rcs, traits []string }

func (s *Service) customNames() (rcs, traits []string) {
	if n := s.names.Load(); n != nil {
		return n.rcs, n.traits
	}
	return nil, nil
}

// setNames replaces one or both lists (nil: unchanged); the caller holds
// applyMu.
func (s *Service) setNames(rcs, traits []string) {
	cur := s.names.Load()
	next := &nameLists{}
	if cur != nil {
		*next = *cur
	}
	if rcs != nil {
		next.rcs = slices.Clone(rcs)
	}
	if traits != nil {
		next.traits = slices.Clone(traits)
	}
	s.names.Store(next)
}

// nameWrite runs a write of the resource_classes or traits table: check is
// the Index's own check, run on a scratch index holding the database's
// names; write does the SQL and reports whether anything changed.
func (s *Service) nameWrite(ctx context.Context, table string, check func(ix *placement.Index) error, write func(t *tx) (bool, error)) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	var (
		changeID int64
		names    []string
	)
	key := "rc"
	if table == "traits" {
		key = "trait"
	}
	now := s.now()
	err := s.db.writeTx(ctx, func(t *tx) error {
		have, err := t.customNames(table)
		if err != nil {
			return err
		}
		ix := placement.New(placement.Options{})
		sy := placement.Sync{SetResourceClasses: table == "resource_classes", CustomResourceClasses: have,
			SetTraits: table == "traits", CustomTraits: have}
		if err := ix.Apply(ctx, sy); err != nil {
			return err
		}
		if err := check(ix); err != nil {
			return err
		}
		changed, err := write(t)
		if err != nil || !changed {
			return err
		}
		if names, err = t.customNames(table); err != nil {
			return err
		}
		changeID, err = t.logChange(key, now)
		return err
	})
	if err != nil || changeID == 0 {
		return err
	}
	sy := placement.Sync{}
	if key == "rc" {
		sy.SetResourceClasses, sy.CustomResourceClasses = true, nonNil(names)
	} else {
		sy.SetTraits, sy.CustomTraits = true, nonNil(names)
	}
	s.applyOwn(ctx, sy, changeID)
	return nil
}

func nonNil(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

// CreateResourceClass creates a custom resource class (see
// placement.Index.CreateResourceClass).
func (s *Service) CreateResourceClass(ctx context.Context, name string) error {
	return s.nameWrite(ctx, "resource_classes",
		func(ix *placement.Index) error { return ix.CreateResourceClass(ctx, name) },
		func(t *tx) (bool, error) {
			n, err := t.execN(t.d.insertIgnore("INSERT INTO resource_classes (name) VALUES (?)"), name)
			if err != nil {
				return false, t.d.wrap(err, "creating resource class "+name)
			}
			if n == 0 {
				return false, &placement.Error{Kind: placement.ErrDuplicateName, Code: placement.CodeDuplicateName, Field: "name",
					Detail: fmt.Sprintf("resource class %s already exists", name)}
			}
			return true, nil
		})
}

// DeleteResourceClass deletes a custom resource class (see
// placement.Index.DeleteResourceClass); one still in an inventory is
// ErrInUse.
func (s *Service) DeleteResourceClass(ctx context.Context, name string) error {
	inUse := &placement.Error{Kind: placement.ErrInUse, Code: placement.CodeUndefined, Field: "name",
		Detail: fmt.Sprintf("resource class %s is in use in inventory", name)}
	return s.nameWrite(ctx, "resource_classes",
		func(ix *placement.Index) error { return ix.DeleteResourceClass(ctx, name) },
		func(t *tx) (bool, error) {
			if used, err := t.exists("SELECT 1 FROM inventories WHERE resource_class = ?", name); err != nil || used {
				if err == nil {
					err = inUse
				}
				return false, err
			}
			if _, err := t.exec("DELETE FROM resource_classes WHERE name = ?", name); err != nil {
				if isForeignKeyViolation(err) {
					return false, inUse
				}
				return false, t.d.wrap(err, "deleting resource class "+name)
			}
			return true, nil
		})
}

// CreateTrait creates a custom trait and reports whether it was created
// (see placement.Index.CreateTrait).
func (s *Service) CreateTrait(ctx context.Context, name string) (bool, error) {
	created := false
	err := s.nameWrite(ctx, "traits",
		func(ix *placement.Index) error {
			var err error
			created, err = ix.CreateTrait(ctx, name)
			if err == nil && !created {
				return errNoChange
			}
			return err
		},
		func(t *tx) (bool, error) {
			n, err := t.execN(t.d.insertIgnore("INSERT INTO traits (name) VALUES (?)"), name)
			if err != nil {
				return false, t.d.wrap(err, "creating trait "+name)
			}
			created = n > 0
			return created, nil
		})
	if err == errNoChange {
		return false, nil
	}
	return created, err
}

var errNoChange = fmt.Errorf("placementstore: no change")

// DeleteTrait deletes a custom trait (see placement.Index.DeleteTrait); one
// a provider has is ErrInUse.
func (s *Service) DeleteTrait(ctx context.Context, name string) error {
	inUse := &placement.Error{Kind: placement.ErrInUse, Code: placement.CodeUndefined, Field: "name",
		Detail: fmt.Sprintf("trait %s is in use", name)}
	return s.nameWrite(ctx, "traits",
		func(ix *placement.Index) error { return ix.DeleteTrait(ctx, name) },
		func(t *tx) (bool, error) {
			if used, err := t.exists("SELECT 1 FROM resource_provider_traits WHERE trait = ?", name); err != nil || used {
				if err == nil {
					err = inUse
				}
				return false, err
			}
			if _, err := t.exec("DELETE FROM traits WHERE name = ?", name); err != nil {
				if isForeignKeyViolation(err) {
					return false, inUse
				}
				return false, t.d.wrap(err, "deleting trait "+name)
			}
			return true, nil
		})
}

func (t *tx) exists(q string, args ...any) (bool, error) {
	rows, err := t.query(q+" LIMIT 1", args...)
	if err != nil {
		return false, t.d.wrap(err, "reading")
	}
	defer rows.Close()
	found := rows.Next()
	return found, t.d.wrap(rows.Err(), "reading")
}
