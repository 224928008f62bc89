package placementstore

import (
	"context"
	"fmt"
	"maps"
	"reflect"
	"sort"
	"time"

	"github.com/novakit/novakit/placement"
)

// CheckDB verifies the database's invariants (every inventory's used
// column is the sum of the allocations against it) and that the Index
// holds exactly what the database holds (timestamps aside).
func CheckDB(ctx context.Context, s *Service) error {
	var problems []string
	err := s.db.readTx(ctx, func(t *tx) error {
		rows, err := t.query("SELECT i.resource_provider_id, i.resource_class, i.used, COALESCE((SELECT SUM(a.used) FROM allocations a WHERE a.resource_provider_id = i.resource_provider_id AND a.resource_class = i.resource_class), 0) FROM inventories i")
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				pid       int64
				rc        string
				used, sum int64
			)
			if err := rows.Scan(&pid, &rc, &used, &sum); err != nil {
				return err
			}
			if used != sum {
				problems = append(problems, fmt.Sprintf("provider %d %s: used %d, allocations sum %d", pid, rc, used, sum))
			}
		}
		return rows.Err()
	})
	if err != nil {
		return err
	}
	var st placement.State
	err = s.db.readTx(ctx, func(t *tx) error {
		var err error
		st, _, err = t.loadAll()
		return err
	})
	if err != nil {
		return err
	}
	got, err := s.ix.Export(ctx)
	if err != nil {
		return err
	}
	a, b := Normalize(st), Normalize(got)
	if !reflect.DeepEqual(a, b) {
		problems = append(problems, fmt.Sprintf("index differs from the database:\ndb:    %+v\nindex: %+v", a, b))
	}
	if len(problems) > 0 {
		return fmt.Errorf("%d problems: %v", len(problems), problems)
	}
	return nil
}

// Normalize drops timestamps and provider generations in allocations and
// sorts, so that states compare with reflect.DeepEqual.
func Normalize(st placement.State) placement.State {
	out := st
	out.Providers = nil
	for _, p := range st.Providers {
		p.Provider.CreatedAt, p.Provider.UpdatedAt, p.Provider.RootUUID = time.Time{}, time.Time{}, ""
		if len(p.Inventories) == 0 {
			p.Inventories = nil
		}
		if len(p.Traits) == 0 {
			p.Traits = nil
		}
		if len(p.Aggregates) == 0 {
			p.Aggregates = nil
		}
		sort.Strings(p.Traits)
		sort.Strings(p.Aggregates)
		out.Providers = append(out.Providers, p)
	}
	sort.Slice(out.Providers, func(i, j int) bool { return out.Providers[i].Provider.UUID < out.Providers[j].Provider.UUID })
	out.Consumers = nil
	for _, c := range st.Consumers {
		c2 := c
		c2.Allocations = maps.Clone(c.Allocations)
		for k, pa := range c2.Allocations {
			pa.Generation = 0
			c2.Allocations[k] = pa
		}
		out.Consumers = append(out.Consumers, c2)
	}
	sort.Slice(out.Consumers, func(i, j int) bool { return out.Consumers[i].UUID < out.Consumers[j].UUID })
	if len(out.CustomResourceClasses) == 0 {
		out.CustomResourceClasses = nil
	}
	if len(out.CustomTraits) == 0 {
		out.CustomTraits = nil
	}
	return out
}
