package placementstore

import (
	"database/sql"

	"github.com/novakit/novakit/store"
	"sort"
	"strings"
	"time"

	"github.com/novakit/novakit/placement"
)

// provRow is a provider as read from the database.
type provRow struct {
	id               int64
	uuid, name       string
	gen              int64
	parentID, rootID sql.NullInt64
	parentUUID       string
	rootUUID         string
	changeID         int64
	created, updated time.Time
	inv              map[string]placement.Inventory
	used             map[string]int64
	traits, aggs     []string
	full             bool // traits and aggregates were read
}

func (p *provRow) sync() placement.ProviderSync {
	return placement.ProviderSync{
		Provider: placement.ResourceProvider{UUID: p.uuid, Name: p.name, Generation: p.gen,
			ParentUUID: p.parentUUID, RootUUID: p.rootUUID, CreatedAt: p.created, UpdatedAt: p.updated},
		Inventories: p.inv, Usages: p.used, Traits: p.traits, Aggregates: p.aggs,
	}
}

// consRow is a consumer as read from the database.
type consRow struct {
	id       int64
	c        placement.Consumer
	changeID int64
}

const provCols = "id, uuid, name, generation, parent_provider_id, root_provider_id, change_id, created_at, updated_at"

// loadProviders reads the providers matching where (a condition on
// resource_providers p), locking them in id order when lock is set, with
// their inventories and usages, and with their traits and aggregates when
// full is set.
//
// Inventories come in the same statement (a join) except for a locking
// read on PostgreSQL: there, READ COMMITTED re-reads only the locked rows
// after waiting for a lock, and joined rows would come from the snapshot
// taken before the wait — stale usages. A second statement, after the
// lock, sees the committed ones. (MySQL's locking reads always read the
// latest rows; SQLite has one writer.)
func (t *tx) loadProviders(where string, args []any, lock, full bool) (map[string]*provRow, error) {
	join := !(lock && t.d.dialect == store.Postgres)
	q := "SELECT p.id, p.uuid, p.name, p.generation, p.parent_provider_id, p.root_provider_id, p.change_id, p.created_at, p.updated_at"
	if join {
		q += ", i.resource_class, i.total, i.reserved, i.min_unit, i.max_unit, i.step_size, i.allocation_ratio, i.used" +
			" FROM resource_providers p LEFT JOIN inventories i ON i.resource_provider_id = p.id"
	} else {
		q += ", NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL FROM resource_providers p"
	}
	q += " WHERE " + where + " ORDER BY p.id"
	if lock {
		q += t.d.forUpdate()
	}
	rows, err := t.query(q, args...)
	if err != nil {
		return nil, t.d.wrap(err, "reading resource providers")
	}
	out := map[string]*provRow{}
	byID := map[int64]*provRow{}
	var ids []int64
	for rows.Next() {
		var (
			p   provRow
			rc  sql.NullString
			inv placement.Inventory
			ti  struct{ total, reserved, min, max, step, used sql.NullInt64 }
			rat sql.NullFloat64
		)
		if err := rows.Scan(&p.id, &p.uuid, &p.name, &p.gen, &p.parentID, &p.rootID, &p.changeID, &p.created, &p.updated,
			&rc, &ti.total, &ti.reserved, &ti.min, &ti.max, &ti.step, &rat, &ti.used); err != nil {
			rows.Close()
			return nil, t.d.wrap(err, "reading resource providers")
		}
		cur := byID[p.id]
		if cur == nil {
			cur = &p
			cur.inv, cur.used, cur.full = map[string]placement.Inventory{}, map[string]int64{}, full
			cur.created, cur.updated = cur.created.UTC(), cur.updated.UTC()
			out[cur.uuid] = cur
			byID[cur.id] = cur
			ids = append(ids, cur.id)
		}
		if rc.Valid {
			inv = placement.Inventory{Total: ti.total.Int64, Reserved: ti.reserved.Int64, MinUnit: ti.min.Int64, MaxUnit: ti.max.Int64,
				StepSize: ti.step.Int64, AllocationRatio: rat.Float64}
			cur.inv[rc.String] = inv
			if ti.used.Int64 != 0 {
				cur.used[rc.String] = ti.used.Int64
			}
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, t.d.wrap(err, "reading resource providers")
	}
	if len(ids) == 0 {
		return out, nil
	}
	if err := t.fillProviders(byID, ids, full, !join); err != nil {
		return nil, err
	}
	return out, nil
}

func (t *tx) fillProviders(byID map[int64]*provRow, ids []int64, full, withInv bool) error {
	var filter string
	var args []any
	if ids != nil {
		filter = " WHERE resource_provider_id IN (" + in(len(ids)) + ")"
		args = anys(ids)
	}
	if withInv {
		if err := t.fillInventories(byID, filter, args); err != nil {
			return err
		}
	}
	return t.fillRest(byID, filter, args, full)
}

func (t *tx) fillInventories(byID map[int64]*provRow, filter string, args []any) error {
	rows, err := t.query("SELECT resource_provider_id, resource_class, total, reserved, min_unit, max_unit, step_size, allocation_ratio, used FROM inventories"+filter, args...)
	if err != nil {
		return t.d.wrap(err, "reading inventories")
	}
	for rows.Next() {
		var (
			pid  int64
			rc   string
			inv  placement.Inventory
			used int64
		)
		if err := rows.Scan(&pid, &rc, &inv.Total, &inv.Reserved, &inv.MinUnit, &inv.MaxUnit, &inv.StepSize, &inv.AllocationRatio, &used); err != nil {
			rows.Close()
			return t.d.wrap(err, "reading inventories")
		}
		if p := byID[pid]; p != nil {
			p.inv[rc] = inv
			if used != 0 {
				p.used[rc] = used
			}
		}
	}
	rows.Close()
	return t.d.wrap(rows.Err(), "reading inventories")
}

func (t *tx) fillRest(byID map[int64]*provRow, filter string, args []any, full bool) error {
	if full {
		for _, spec := range []struct{ table, col string }{{"resource_provider_traits", "trait"}, {"resource_provider_aggregates", "aggregate_uuid"}} {
			rows, err := t.query("SELECT resource_provider_id, "+spec.col+" FROM "+spec.table+filter, args...)
			if err != nil {
				return t.d.wrap(err, "reading "+spec.table)
			}
			for rows.Next() {
				var (
					pid int64
					v   string
				)
				if err := rows.Scan(&pid, &v); err != nil {
					rows.Close()
					return t.d.wrap(err, "reading "+spec.table)
				}
				if p := byID[pid]; p != nil {
					if spec.col == "trait" {
						p.traits = append(p.traits, v)
					} else {
						p.aggs = append(p.aggs, v)
					}
				}
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return t.d.wrap(err, "reading "+spec.table)
			}
		}
	}
	// Parent and root uuids.
	var missing []int64
	need := func(id sql.NullInt64) {
		if id.Valid && byID[id.Int64] == nil && !containsID(missing, id.Int64) {
			missing = append(missing, id.Int64)
		}
	}
	for _, p := range byID {
		need(p.parentID)
		need(p.rootID)
	}
	names := map[int64]string{}
	for id, p := range byID {
		names[id] = p.uuid
	}
	if len(missing) > 0 {
		rows, err := t.query("SELECT id, uuid FROM resource_providers WHERE id IN ("+in(len(missing))+")", anys(missing)...)
		if err != nil {
			return t.d.wrap(err, "reading resource providers")
		}
		for rows.Next() {
			var (
				id int64
				u  string
			)
			if err := rows.Scan(&id, &u); err != nil {
				rows.Close()
				return t.d.wrap(err, "reading resource providers")
			}
			names[id] = u
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return t.d.wrap(err, "reading resource providers")
		}
	}
	for _, p := range byID {
		if p.parentID.Valid {
			p.parentUUID = names[p.parentID.Int64]
		}
		p.rootUUID = p.uuid
		if p.rootID.Valid {
			p.rootUUID = names[p.rootID.Int64]
		}
	}
	return nil
}

func containsID(l []int64, id int64) bool {
	for _, x := range l {
		if x == id {
			return true
		}
	}
	return false
}

// loadConsumers reads consumers by uuid with their allocations, locking
// them in id order when lock is set.
func (t *tx) loadConsumers(uuids []string, lock bool) (map[string]*consRow, error) {
	out := map[string]*consRow{}
	if len(uuids) == 0 {
		return out, nil
	}
	q := "SELECT id, uuid, project_id, user_id, consumer_type, generation, change_id FROM consumers WHERE uuid IN (" + in(len(uuids)) + ") ORDER BY id"
	if lock {
		q += t.d.forUpdate()
	}
	return t.readConsumers(q, anys(uuids), "consumer_id IN (SELECT id FROM consumers WHERE uuid IN ("+in(len(uuids))+"))")
}

func (t *tx) readConsumers(q string, args []any, allocWhere string) (map[string]*consRow, error) {
	out := map[string]*consRow{}
	rows, err := t.query(q, args...)
	if err != nil {
		return nil, t.d.wrap(err, "reading consumers")
	}
	byID := map[int64]*consRow{}
	var ids []int64
	for rows.Next() {
		c := &consRow{}
		if err := rows.Scan(&c.id, &c.c.UUID, &c.c.Project, &c.c.User, &c.c.ConsumerType, &c.c.Generation, &c.changeID); err != nil {
			rows.Close()
			return nil, t.d.wrap(err, "reading consumers")
		}
		c.c.Allocations = map[string]placement.ProviderAllocation{}
		out[c.c.UUID] = c
		byID[c.id] = c
		ids = append(ids, c.id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, t.d.wrap(err, "reading consumers")
	}
	if len(ids) == 0 {
		return out, nil
	}
	aq := "SELECT a.consumer_id, p.uuid, a.resource_class, a.used FROM allocations a JOIN resource_providers p ON p.id = a.resource_provider_id"
	var aargs []any
	if allocWhere != "all" {
		aq += " WHERE a.consumer_id IN (" + in(len(ids)) + ")"
		aargs = anys(ids)
	}
	rows, err = t.query(aq, aargs...)
	if err != nil {
		return nil, t.d.wrap(err, "reading allocations")
	}
	for rows.Next() {
		var (
			cid  int64
			pu   string
			rc   string
			used int64
		)
		if err := rows.Scan(&cid, &pu, &rc, &used); err != nil {
			rows.Close()
			return nil, t.d.wrap(err, "reading allocations")
		}
		c := byID[cid]
		if c == nil {
			continue
		}
		pa, ok := c.c.Allocations[pu]
		if !ok {
			pa = placement.ProviderAllocation{Resources: map[string]int64{}}
			c.c.Allocations[pu] = pa
		}
		pa.Resources[rc] += used
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, t.d.wrap(err, "reading allocations")
	}
	return out, nil
}

// customNames lists the CUSTOM_* names of resource_classes or traits.
func (t *tx) customNames(table string) ([]string, error) {
	rows, err := t.query("SELECT name FROM " + table)
	if err != nil {
		return nil, t.d.wrap(err, "reading "+table)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, t.d.wrap(err, "reading "+table)
		}
		if strings.HasPrefix(n, "CUSTOM_") {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out, t.d.wrap(rows.Err(), "reading "+table)
}

// loadAll reads the whole database: the state to Load into an Index, and
// the change id of every provider and consumer.
func (t *tx) loadAll() (placement.State, map[string]int64, error) {
	var st placement.State
	var err error
	versions := map[string]int64{}
	if st.CustomResourceClasses, err = t.customNames("resource_classes"); err != nil {
		return st, nil, err
	}
	if st.CustomTraits, err = t.customNames("traits"); err != nil {
		return st, nil, err
	}
	provs, err := t.loadAllProviders()
	if err != nil {
		return st, nil, err
	}
	for _, p := range provs {
		st.Providers = append(st.Providers, placement.ProviderState{
			Provider: placement.ResourceProvider{UUID: p.uuid, Name: p.name, Generation: p.gen, ParentUUID: p.parentUUID,
				CreatedAt: p.created, UpdatedAt: p.updated},
			Inventories: p.inv, Traits: p.traits, Aggregates: p.aggs,
		})
		versions["p:"+p.uuid] = p.changeID
	}
	cons, err := t.readConsumers("SELECT id, uuid, project_id, user_id, consumer_type, generation, change_id FROM consumers", nil, "all")
	if err != nil {
		return st, nil, err
	}
	for _, c := range cons {
		st.Consumers = append(st.Consumers, c.c)
		versions["c:"+c.c.UUID] = c.changeID
	}
	sort.Slice(st.Consumers, func(i, j int) bool { return st.Consumers[i].UUID < st.Consumers[j].UUID })
	return st, versions, nil
}

func (t *tx) loadAllProviders() ([]*provRow, error) {
	rows, err := t.query("SELECT " + provCols + " FROM resource_providers ORDER BY id")
	if err != nil {
		return nil, t.d.wrap(err, "reading resource providers")
	}
	byID := map[int64]*provRow{}
	var list []*provRow
	for rows.Next() {
		p := &provRow{inv: map[string]placement.Inventory{}, used: map[string]int64{}, full: true}
		if err := rows.Scan(&p.id, &p.uuid, &p.name, &p.gen, &p.parentID, &p.rootID, &p.changeID, &p.created, &p.updated); err != nil {
			rows.Close()
			return nil, t.d.wrap(err, "reading resource providers")
		}
		p.created, p.updated = p.created.UTC(), p.updated.UTC()
		byID[p.id] = p
		list = append(list, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, t.d.wrap(err, "reading resource providers")
	}
	if err := t.fillProviders(byID, nil, true, true); err != nil {
		return nil, err
	}
	return list, nil
}
