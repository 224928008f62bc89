package placementstore

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/novakit/novakit/placement"
)

// Ping checks that the database answers; an unreachable database gives an
// error wrapping ErrUnavailable (the Placement API's /healthz answers 503).
func (s *Service) Ping(ctx context.Context) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	if err := s.db.conn.Writer.PingContext(ctx); err != nil {
		return fmt.Errorf("placementstore: %s: %w: %w", s.db.conn.URL, ErrUnavailable, err)
	}
	return nil
}

// RenameResourceClass renames a custom resource class, keeping its
// inventories and allocations (PUT /resource_classes/{name} below
// microversion 1.7), in one transaction. Errors: placement.ErrNotFound
// (no class old), placement.ErrInvalid (a standard class, or new is not
// CUSTOM_*), placement.ErrDuplicateName (new exists). Other processes
// reload the providers and consumers concerned; this one reloads its
// Index (renames are rare).
func (s *Service) RenameResourceClass(ctx context.Context, old, new string) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	switch {
	case placement.IsStandardResourceClass(old):
		return &placement.Error{Kind: placement.ErrInvalid, Code: placement.CodeUndefined, Field: "name",
			Detail: fmt.Sprintf("cannot rename standard resource class %s", old)}
	case !placement.IsCustomName(new):
		return &placement.Error{Kind: placement.ErrInvalid, Code: placement.CodeUndefined, Field: "name",
			Detail: fmt.Sprintf("custom resource class names must match CUSTOM_[A-Z0-9_]+, got %q", new)}
	}
	now := s.now()
	err := s.db.writeTx(ctx, func(t *tx) error {
		have, err := t.customNames("resource_classes")
		if err != nil {
			return err
		}
		if !slices.Contains(have, old) {
			return &placement.Error{Kind: placement.ErrNotFound, Code: placement.CodeUndefined,
				Detail: fmt.Sprintf("no such resource class %s", old)}
		}
		if slices.Contains(have, new) {
			return &placement.Error{Kind: placement.ErrDuplicateName, Code: placement.CodeDuplicateName, Field: "name",
				Detail: fmt.Sprintf("resource class %s already exists", new)}
		}
		entities := []string{"rc"}
		for _, q := range []struct{ sql, prefix string }{
			{"SELECT DISTINCT p.uuid FROM inventories i JOIN resource_providers p ON p.id = i.resource_provider_id WHERE i.resource_class = ?", "p:"},
			{"SELECT DISTINCT c.uuid FROM allocations a JOIN consumers c ON c.id = a.consumer_id WHERE a.resource_class = ?", "c:"},
		} {
			rows, err := t.query(q.sql, old)
			if err != nil {
				return t.d.wrap(err, "renaming resource class")
			}
			for rows.Next() {
				var u string
				if err := rows.Scan(&u); err != nil {
					rows.Close()
					return t.d.wrap(err, "renaming resource class")
				}
				entities = append(entities, q.prefix+u)
			}
			rows.Close()
		}
		id, err := t.logChange(strings.Join(entities, " "), now)
		if err != nil {
			return err
		}
		for _, st := range []string{
			"INSERT INTO resource_classes (name) VALUES (?)",
			"UPDATE inventories SET resource_class = ? WHERE resource_class = ?",
			"UPDATE allocations SET resource_class = ? WHERE resource_class = ?",
			"UPDATE resource_providers SET change_id = ? WHERE id IN (SELECT resource_provider_id FROM inventories WHERE resource_class = ?)",
			"UPDATE consumers SET change_id = ? WHERE id IN (SELECT consumer_id FROM allocations WHERE resource_class = ?)",
			"DELETE FROM resource_classes WHERE name = ?",
		} {
			args := []any{new, old}
			switch {
			case strings.HasPrefix(st, "INSERT"):
				args = []any{new}
			case strings.HasPrefix(st, "DELETE"):
				args = []any{old}
			case strings.Contains(st, "change_id"):
				args = []any{id, new}
			}
			if _, err := t.exec(st, args...); err != nil {
				return t.d.wrap(err, "renaming resource class "+old)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return s.reloadAll(ctx)
}
