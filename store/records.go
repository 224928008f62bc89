package store

import (
	"fmt"

	entsql "entgo.io/ent/dialect/sql"
	"github.com/google/uuid"

	"github.com/novakit/novakit/compute"
)

// This file holds what the record repositories (flavors, key pairs,
// actions, faults, services, compute nodes, migrations, server groups,
// aggregates, request specs, block devices, quotas) share: a conflict
// error, input checks, keyset paging and row locks.

// ConflictError says that a write was refused because of the current
// state of the records, not because the request is malformed: a public
// flavor has no access list, an aggregate that still has hosts cannot be
// deleted, a host cannot join two availability zones, a migration is no
// longer in the status the caller expected, an instance is already in
// another server group. The same request may succeed once the state has
// changed. It satisfies errors.Is(err, compute.ErrConflict).
type ConflictError struct {
	Kind   string // the record kind: "flavor", "aggregate", "migration" …
	Key    string // the record's key
	Reason string
}

func (e *ConflictError) Error() string { return fmt.Sprintf("%s %s: %s", e.Kind, e.Key, e.Reason) }

// Is reports whether target is compute.ErrConflict.
func (e *ConflictError) Is(target error) bool { return target == compute.ErrConflict }

func conflict(kind, key, format string, args ...any) error {
	return &ConflictError{Kind: kind, Key: key, Reason: fmt.Sprintf(format, args...)}
}

// maxName is the length of the string columns (varchar(255)).
const maxName = 255

// required checks that v is 1 to 255 bytes long.
func required(field, v string) error {
	if v == "" {
		return compute.InvalidInput(field, "is required")
	}
	return maxLen(field, v, maxName)
}

func maxLen(field, v string, n int) error {
	if len(v) > n {
		return compute.InvalidInput(field, "longer than %d characters", n)
	}
	return nil
}

// isUUID reports whether v is a UUID in its canonical 36-character form,
// the only form the uuid columns hold.
func isUUID(v string) bool {
	if len(v) != 36 {
		return false
	}
	_, err := uuid.Parse(v)
	return err == nil
}

// uuidField checks a uuid given for field, or returns a new one when v is
// empty and generate is true.
func uuidField(field, v string, generate bool) (string, error) {
	if v == "" && generate {
		return uuid.NewString(), nil
	}
	if !isUUID(v) {
		return "", compute.InvalidInput(field, "%q is not a UUID", v)
	}
	return v, nil
}

// checkPage checks the parts of ListOptions a listing without sort keys
// understands.
func checkPage(opts compute.ListOptions, kind string) error {
	if opts.Limit < 0 {
		return compute.InvalidInput("limit", "must be 0 or more")
	}
	if len(opts.Sort) > 0 {
		return compute.InvalidInput("sort_key", "%s cannot be sorted", kind)
	}
	return nil
}

// keyCol is one column of a keyset order, with the marker row's value.
type keyCol struct {
	col  string
	desc bool
	val  any
}

// afterKeys is the keyset predicate "comes after the marker row in this
// order": OR over i of (k1 = v1 AND … AND k(i-1) = v(i-1) AND ki ≷ vi).
// The last column must be unique (the id) for the order to be total.
func afterKeys(keys []keyCol) func(*entsql.Selector) {
	return func(sel *entsql.Selector) {
		ors := make([]*entsql.Predicate, 0, len(keys))
		for i, k := range keys {
			ands := make([]*entsql.Predicate, 0, i+1)
			for _, p := range keys[:i] {
				ands = append(ands, entsql.EQ(sel.C(p.col), p.val))
			}
			if k.desc {
				ands = append(ands, entsql.LT(sel.C(k.col), k.val))
			} else {
				ands = append(ands, entsql.GT(sel.C(k.col), k.val))
			}
			ors = append(ors, entsql.And(ands...))
		}
		sel.Where(entsql.Or(ors...))
	}
}

// orderKeys orders a query by the keyset columns.
func orderKeys(keys []keyCol) func(*entsql.Selector) {
	return func(sel *entsql.Selector) {
		for _, k := range keys {
			if k.desc {
				sel.OrderBy(entsql.Desc(sel.C(k.col)))
			} else {
				sel.OrderBy(entsql.Asc(sel.C(k.col)))
			}
		}
	}
}

// lockRows adds FOR UPDATE to a query inside a write transaction, so that
// a read-modify-write of the rows is not interleaved with another
// writer's. SQLite has no row locks and needs none: its write
// transactions begin IMMEDIATE, so they run one at a time.
func lockRows[Q interface {
	ForUpdate(...entsql.LockOption) Q
}](s *Store, q Q) Q {
	if s.dialect == SQLite {
		return q
	}
	return q.ForUpdate()
}

// nilIfEmpty returns nil for an empty map, so that records round-trip
// with nil rather than empty maps.
func nilIfEmpty[M ~map[K]V, K comparable, V any](m M) M {
	if len(m) == 0 {
		return nil
	}
	return m
}
