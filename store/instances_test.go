package store_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/store"
)

func newInstance(project string) *compute.Instance {
	return &compute.Instance{
		Name: "vm", ProjectID: project, UserID: "u-" + project, ImageRef: "img-1",
		Flavor:  compute.Flavor{FlavorID: "1", Name: "m1.tiny", VCPUs: 1, MemoryMB: 512, RootGB: 1, ExtraSpecs: map[string]string{"hw:cpu_policy": "shared"}},
		VMState: compute.VMBuilding, TaskState: compute.TaskScheduling,
		Metadata: map[string]string{"role": "web"},
	}
}

// testInstances is the instance part of the store suite; newStore gives
// a store on the dialect under test (one database per call or shared, the
// tests use their own project ids).
func testInstances(t *testing.T, newStore func(t *testing.T) *store.Store) {
	t.Run("CreateThenGetRoundTrips", func(t *testing.T) {
		s := newStore(t)
		ctx := context.Background()
		in := newInstance(uuid.NewString())
		in.Tags = []string{"b", "a"}
		in.LaunchedAt = time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.FixedZone("x", 3600))
		in.DriverHandle = []byte{1, 2, 3}
		in.OldFlavor = &compute.Flavor{FlavorID: "0", Name: "old", VCPUs: 1, MemoryMB: 1}
		created, err := s.Instances().Create(ctx, in)
		require.NoError(t, err)
		require.NotEmpty(t, created.UUID)
		require.NotZero(t, created.ID)
		got, err := s.Instances().Get(ctx, created.UUID)
		require.NoError(t, err)
		assert.Equal(t, created, got)
		assert.Equal(t, []string{"a", "b"}, got.Tags)
		assert.Equal(t, in.LaunchedAt.UTC().Truncate(time.Microsecond), got.LaunchedAt)
		assert.Equal(t, "shared", got.Flavor.ExtraSpecs["hw:cpu_policy"])
		assert.Equal(t, "BUILD", got.Status())
		assert.Equal(t, fmt.Sprintf("instance-%08x", got.ID), got.GuestName())
	})

	t.Run("CreateRefusesDuplicatesAndBadInput", func(t *testing.T) {
		s := newStore(t)
		ctx := context.Background()
		in := newInstance(uuid.NewString())
		in.UUID = uuid.NewString()
		_, err := s.Instances().Create(ctx, in)
		require.NoError(t, err)
		_, err = s.Instances().Create(ctx, in)
		require.ErrorIs(t, err, compute.ErrConflict)

		bad := newInstance("p")
		bad.VMState = "exploded"
		_, err = s.Instances().Create(ctx, bad)
		var iie *compute.InvalidInputError
		require.ErrorAs(t, err, &iie)
		assert.Equal(t, "vm_state", iie.Field)
		bad = newInstance("p")
		bad.UUID = "not-a-uuid"
		_, err = s.Instances().Create(ctx, bad)
		require.ErrorAs(t, err, &iie)
		assert.Equal(t, "uuid", iie.Field)
	})

	t.Run("GetOfMissingInstanceIsNotFound", func(t *testing.T) {
		s := newStore(t)
		_, err := s.Instances().Get(context.Background(), uuid.NewString())
		require.ErrorIs(t, err, compute.ErrNotFound)
		var nf *compute.NotFoundError
		require.ErrorAs(t, err, &nf)
		assert.Equal(t, "instance", nf.Kind)
	})

	t.Run("UpdateIsCompareAndSwapOnStates", func(t *testing.T) {
		s := newStore(t)
		ctx := context.Background()
		in, err := s.Instances().Create(ctx, newInstance(uuid.NewString()))
		require.NoError(t, err)
		up, err := s.Instances().Update(ctx, in.UUID, compute.InstanceUpdate{
			ExpectedTaskStates: []compute.TaskState{compute.TaskScheduling},
			VMState:            compute.Ptr(compute.VMActive), TaskState: compute.Ptr(compute.TaskNone),
			PowerState: compute.Ptr(compute.PowerRunning), Host: compute.Ptr("host1"),
			LaunchedAt: compute.Ptr(time.Now()), Tags: []string{"x"},
			Flavor: &compute.Flavor{FlavorID: "2", Name: "m1.small", VCPUs: 2, MemoryMB: 2048},
		})
		require.NoError(t, err)
		assert.Equal(t, "ACTIVE", up.Status())
		assert.Equal(t, "host1", up.Host)
		assert.Equal(t, []string{"x"}, up.Tags)
		assert.Equal(t, 2, up.Flavor.VCPUs)
		assert.True(t, up.UpdatedAt.After(in.UpdatedAt) || up.UpdatedAt.Equal(in.UpdatedAt))

		// The same expectation again loses: the task is no longer scheduling.
		_, err = s.Instances().Update(ctx, in.UUID, compute.InstanceUpdate{
			ExpectedTaskStates: []compute.TaskState{compute.TaskScheduling},
			TaskState:          compute.Ptr(compute.TaskSpawning),
		})
		var sc *compute.StateConflictError
		require.ErrorAs(t, err, &sc)
		require.ErrorIs(t, err, compute.ErrConflict)
		assert.Equal(t, compute.VMActive, sc.ActualVM)
		assert.Equal(t, compute.TaskNone, sc.ActualTask)
		got, err := s.Instances().Get(ctx, in.UUID)
		require.NoError(t, err)
		assert.Equal(t, compute.TaskNone, got.TaskState, "a lost swap writes nothing")

		_, err = s.Instances().Update(ctx, in.UUID, compute.InstanceUpdate{ExpectedVMStates: []compute.VMState{compute.VMStopped}})
		require.ErrorIs(t, err, compute.ErrConflict)
		_, err = s.Instances().Update(ctx, uuid.NewString(), compute.InstanceUpdate{})
		require.ErrorIs(t, err, compute.ErrNotFound)
		_, err = s.Instances().Update(ctx, in.UUID, compute.InstanceUpdate{TaskState: compute.Ptr(compute.TaskState("bogus"))})
		var iie *compute.InvalidInputError
		require.ErrorAs(t, err, &iie)
		assert.Equal(t, "task_state", iie.Field)
	})

	t.Run("ConcurrentSwapsHaveExactlyOneWinner", func(t *testing.T) {
		s := newStore(t)
		ctx := context.Background()
		in := newInstance(uuid.NewString())
		in.VMState, in.TaskState, in.Host, in.LaunchedAt = compute.VMActive, compute.TaskNone, "h", time.Now()
		in, err := s.Instances().Create(ctx, in)
		require.NoError(t, err)
		rule, _ := compute.RuleFor(compute.ActionStop)
		const n = 24
		var (
			wg        sync.WaitGroup
			mu        sync.Mutex
			wins      int
			conflicts int
			others    []error
		)
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := s.Instances().Update(ctx, in.UUID, rule.Transition())
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					wins++
				case errors.Is(err, compute.ErrConflict):
					conflicts++
				default:
					others = append(others, err)
				}
			}()
		}
		wg.Wait()
		require.Empty(t, others)
		assert.Equal(t, 1, wins)
		assert.Equal(t, n-1, conflicts)
	})

	t.Run("SoftDeletedInstancesAreVisibleOnlyWhenAsked", func(t *testing.T) {
		s := newStore(t)
		ctx := context.Background()
		project := uuid.NewString()
		keep, err := s.Instances().Create(ctx, newInstance(project))
		require.NoError(t, err)
		gone, err := s.Instances().Create(ctx, newInstance(project))
		require.NoError(t, err)
		before := time.Now().Add(-time.Second)
		del, err := s.Instances().SoftDelete(ctx, gone.UUID, compute.InstanceUpdate{})
		require.NoError(t, err)
		assert.True(t, del.Deleted)
		assert.Equal(t, compute.VMDeleted, del.VMState)
		assert.False(t, del.DeletedAt.IsZero())
		assert.False(t, del.TerminatedAt.IsZero())

		_, err = s.Instances().Get(ctx, gone.UUID)
		require.ErrorIs(t, err, compute.ErrNotFound)
		got, err := s.Instances().GetWithDeleted(ctx, gone.UUID)
		require.NoError(t, err)
		assert.Equal(t, "DELETED", got.Status())
		_, err = s.Instances().Update(ctx, gone.UUID, compute.InstanceUpdate{Name: compute.Ptr("x")})
		require.ErrorIs(t, err, compute.ErrNotFound, "deleted instances are not updated")

		list := func(f compute.InstanceFilter) []string {
			f.ProjectID = project
			out, err := s.Instances().List(ctx, f, compute.ListOptions{})
			require.NoError(t, err)
			var ids []string
			for _, i := range out {
				ids = append(ids, i.UUID)
			}
			sort.Strings(ids)
			return ids
		}
		both := []string{keep.UUID, gone.UUID}
		sort.Strings(both)
		assert.Equal(t, []string{keep.UUID}, list(compute.InstanceFilter{}))
		assert.Equal(t, both, list(compute.InstanceFilter{Deleted: compute.ReadDeletedYes}))
		assert.Equal(t, []string{gone.UUID}, list(compute.InstanceFilter{Deleted: compute.ReadDeletedOnly}))
		assert.Equal(t, both, list(compute.InstanceFilter{ChangesSince: before}), "changes-since shows deleted servers")

		n, err := s.Instances().Purge(ctx, time.Now().Add(time.Hour))
		require.NoError(t, err)
		assert.GreaterOrEqual(t, n, 1)
		_, err = s.Instances().GetWithDeleted(ctx, gone.UUID)
		require.ErrorIs(t, err, compute.ErrNotFound)
	})

	t.Run("ListFiltersLikeNova", func(t *testing.T) {
		s := newStore(t)
		ctx := context.Background()
		project := uuid.NewString()
		mk := func(name, host string, vm compute.VMState, task compute.TaskState, tags ...string) string {
			in := newInstance(project)
			in.Name, in.Host, in.VMState, in.TaskState, in.Tags = name, host, vm, task, tags
			c, err := s.Instances().Create(ctx, in)
			require.NoError(t, err)
			return c.UUID
		}
		web1 := mk("web-1", "h1", compute.VMActive, compute.TaskNone, "web", "prod")
		web2 := mk("web-2", "h2", compute.VMActive, compute.TaskRebooting, "web")
		db1 := mk("db-1", "h1", compute.VMStopped, compute.TaskNone, "db", "prod")
		build := mk("build", "", compute.VMBuilding, compute.TaskScheduling)
		other := newInstance(uuid.NewString())
		other.Name = "web-other"
		_, err := s.Instances().Create(ctx, other)
		require.NoError(t, err)

		ids := func(f compute.InstanceFilter) []string {
			f.ProjectID = project
			out, err := s.Instances().List(ctx, f, compute.ListOptions{})
			require.NoError(t, err)
			var r []string
			for _, i := range out {
				r = append(r, i.UUID)
			}
			sort.Strings(r)
			return r
		}
		sorted := func(v ...string) []string { sort.Strings(v); return v }
		active, ok := compute.StatesForStatus("ACTIVE")
		require.True(t, ok)
		reboot, _ := compute.StatesForStatus("REBOOT")
		assert.Equal(t, sorted(web1), ids(compute.InstanceFilter{States: active}))
		assert.Equal(t, sorted(web2), ids(compute.InstanceFilter{States: reboot}))
		assert.Equal(t, sorted(web1, db1), ids(compute.InstanceFilter{Host: "h1"}))
		assert.Equal(t, sorted(web1, web2), ids(compute.InstanceFilter{Name: "^web-[0-9]$"}))
		assert.Equal(t, sorted(web1, web2), ids(compute.InstanceFilter{Name: "web"}))
		assert.Equal(t, sorted(web1, db1), ids(compute.InstanceFilter{Tags: []string{"prod"}}))
		assert.Equal(t, sorted(web1), ids(compute.InstanceFilter{Tags: []string{"prod", "web"}}))
		assert.Equal(t, sorted(web1, web2, db1), ids(compute.InstanceFilter{TagsAny: []string{"web", "db"}}))
		assert.Equal(t, sorted(web2, db1, build), ids(compute.InstanceFilter{NotTags: []string{"prod", "web"}}))
		assert.Equal(t, sorted(build), ids(compute.InstanceFilter{NotTagsAny: []string{"web", "db"}}))
		assert.Equal(t, sorted(build), ids(compute.InstanceFilter{VMStates: []compute.VMState{compute.VMBuilding}}))
		assert.Equal(t, sorted(web1, db1), ids(compute.InstanceFilter{TaskStates: []compute.TaskState{compute.TaskNone}, UUIDs: []string{web1, db1, web2}}))
		assert.Empty(t, ids(compute.InstanceFilter{States: []compute.StatePair{}}))

		_, err = s.Instances().List(ctx, compute.InstanceFilter{Name: "(["}, compute.ListOptions{})
		var iie *compute.InvalidInputError
		require.ErrorAs(t, err, &iie)
		assert.Equal(t, "name", iie.Field)
		_, err = s.Instances().List(ctx, compute.InstanceFilter{}, compute.ListOptions{Sort: []compute.SortKey{{Key: "password"}}})
		require.ErrorAs(t, err, &iie)
		assert.Equal(t, "sort_key", iie.Field)
		_, err = s.Instances().List(ctx, compute.InstanceFilter{}, compute.ListOptions{Marker: uuid.NewString()})
		var mnf *compute.MarkerNotFoundError
		require.ErrorAs(t, err, &mnf)

		u, err := s.Instances().Usage(ctx, project, "")
		require.NoError(t, err)
		assert.Equal(t, store.InstanceUsage{Instances: 4, VCPUs: 4, MemoryMB: 2048}, u)
	})

	t.Run("PagingVisitsEveryInstanceOnceInOrder", func(t *testing.T) {
		s := newStore(t)
		ctx := context.Background()
		project := uuid.NewString()
		base := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
		const n = 23
		for i := range n {
			in := newInstance(project)
			in.Name = fmt.Sprintf("vm-%d", i%4) // duplicates: ties broken by id
			in.CreatedAt = base.Add(time.Duration(i%5) * time.Second)
			if i%3 == 0 {
				in.LaunchedAt = base.Add(time.Duration(i) * time.Minute)
			}
			_, err := s.Instances().Create(ctx, in)
			require.NoError(t, err)
		}
		for _, sortKeys := range [][]compute.SortKey{
			nil,
			{{Key: "display_name"}},
			{{Key: "display_name", Desc: true}, {Key: "created_at"}},
			{{Key: "launched_at"}},
			{{Key: "launched_at", Desc: true}, {Key: "uuid"}},
		} {
			t.Run(fmt.Sprint(sortKeys), func(t *testing.T) {
				f := compute.InstanceFilter{ProjectID: project}
				all, err := s.Instances().List(ctx, f, compute.ListOptions{Sort: sortKeys})
				require.NoError(t, err)
				require.Len(t, all, n)
				var paged []*compute.Instance
				marker := ""
				for range n {
					page, err := s.Instances().List(ctx, f, compute.ListOptions{Sort: sortKeys, Limit: 4, Marker: marker})
					require.NoError(t, err)
					paged = append(paged, page...)
					if len(page) < 4 {
						break
					}
					marker = page[len(page)-1].UUID
				}
				require.Len(t, paged, n)
				for i := range all {
					assert.Equal(t, all[i].UUID, paged[i].UUID, "position %d", i)
				}
				if sortKeys == nil {
					for i := 1; i < n; i++ {
						assert.False(t, all[i].CreatedAt.After(all[i-1].CreatedAt), "newest first")
					}
				}
			})
		}
	})
}
