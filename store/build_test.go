package store_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/store"
)

func newBuild(project, rid string) store.InstanceBuild {
	inst := newInstance(project)
	inst.UUID = uuid.NewString()
	inst.Tags = []string{"b", "a"}
	return store.InstanceBuild{
		Instance: inst,
		Spec:     &compute.RequestSpec{ProjectID: project, Flavor: inst.Flavor, NumInstances: 1},
		BlockDevices: []compute.BlockDeviceMapping{{
			BootIndex: compute.Ptr(0), SourceType: "image", DestinationType: "local", ImageID: "img-1",
			DeleteOnTermination: true, DeviceType: "disk",
		}},
		Action: &compute.InstanceAction{Action: "create", RequestID: rid, UserID: inst.UserID, ProjectID: project},
	}
}

// TestCreateBuilds runs on every dialect: a create's records are written
// together, a build over quota writes nothing, and creates racing for the
// last quota slots never together get more than the quota.
func TestCreateBuilds(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			ctx := context.Background()
			s, err := store.Open(ctx, d.url(t), nil)
			require.NoError(t, err)
			t.Cleanup(func() { s.Close() })

			t.Run("WritesEveryRecord", func(t *testing.T) {
				b := newBuild("cb-all", "req-1")
				out, err := s.CreateBuilds(ctx, []store.InstanceBuild{b}, nil)
				require.NoError(t, err)
				require.Len(t, out, 1)
				inst := out[0].Instance
				assert.Equal(t, b.Instance.UUID, inst.UUID)
				assert.NotZero(t, inst.ID)
				assert.Equal(t, []string{"a", "b"}, inst.Tags)
				got, err := s.Instances().Get(ctx, inst.UUID)
				require.NoError(t, err)
				assert.Equal(t, compute.VMBuilding, got.VMState)
				assert.Equal(t, []string{"a", "b"}, got.Tags)
				assert.Equal(t, inst.ID, got.ID)
				assert.Equal(t, inst.Flavor, got.Flavor)
				assert.Equal(t, map[string]string{"role": "web"}, got.Metadata)
				assert.True(t, inst.CreatedAt.Equal(got.CreatedAt), "%s vs %s", inst.CreatedAt, got.CreatedAt)
				tagged, err := s.Instances().List(ctx, compute.InstanceFilter{ProjectID: "cb-all", Tags: []string{"a"}}, compute.ListOptions{})
				require.NoError(t, err)
				require.Len(t, tagged, 1, "the tag rows are written")
				spec, err := s.RequestSpecs().Get(ctx, inst.UUID)
				require.NoError(t, err)
				assert.Equal(t, inst.UUID, spec.InstanceUUID)
				bdms, err := s.BlockDevices().ListByInstance(ctx, inst.UUID)
				require.NoError(t, err)
				require.Len(t, bdms, 1)
				assert.Equal(t, out[0].BlockDevices[0].UUID, bdms[0].UUID)
				assert.Equal(t, out[0].BlockDevices[0].ID, bdms[0].ID)
				assert.NotZero(t, bdms[0].ID)
				assert.Equal(t, 0, *bdms[0].BootIndex)
				assert.Equal(t, "image", bdms[0].SourceType)
				acts, err := s.InstanceActions().List(ctx, inst.UUID, store.ActionFilter{}, compute.ListOptions{})
				require.NoError(t, err)
				require.Len(t, acts, 1)
				assert.Equal(t, "req-1", acts[0].RequestID)
				assert.Equal(t, out[0].Action.ID, acts[0].ID)
				assert.NotZero(t, acts[0].ID)
			})

			t.Run("AllOrNothing", func(t *testing.T) {
				good, bad := newBuild("cb-atomic", "req-2"), newBuild("cb-atomic", "req-2")
				bad.BlockDevices[0].SourceType = "floppy"
				_, err := s.CreateBuilds(ctx, []store.InstanceBuild{good, bad}, nil)
				requireInvalid(t, err, "source_type")
				long := newBuild("cb-atomic", "req-2")
				long.Instance.Hostname = strings.Repeat("h", 256)
				_, err = s.CreateBuilds(ctx, []store.InstanceBuild{good, long}, nil)
				requireInvalid(t, err, "hostname")
				dup := newBuild("cb-atomic", "req-3")
				dup.Instance.UUID = good.Instance.UUID
				_, err = s.CreateBuilds(ctx, []store.InstanceBuild{good, dup}, nil)
				require.Error(t, err)
				u, err := s.Instances().Usage(ctx, "cb-atomic", "")
				require.NoError(t, err)
				assert.Zero(t, u.Instances, "a failed build stores none of its instances")
			})

			t.Run("QuotaRoom", func(t *testing.T) {
				q := &store.BuildQuota{Limits: map[string]int{compute.QuotaInstances: 10, compute.QuotaCores: 3, compute.QuotaRAM: -1}}
				_, err := s.CreateBuilds(ctx, []store.InstanceBuild{newBuild("cb-room", "r1"), newBuild("cb-room", "r1")}, q)
				require.NoError(t, err)
				_, err = s.CreateBuilds(ctx, []store.InstanceBuild{newBuild("cb-room", "r2"), newBuild("cb-room", "r2")}, q)
				require.ErrorIs(t, err, compute.ErrQuotaExceeded)
				var room *store.QuotaRoomError
				require.ErrorAs(t, err, &room)
				assert.Equal(t, 1, room.Room, "one more 1-vCPU instance fits in 3 cores")
				assert.Equal(t, 2, room.Usage.Instances)
				assert.Equal(t, 2, room.Usage.VCPUs)
				u, err := s.Instances().Usage(ctx, "cb-room", "")
				require.NoError(t, err)
				assert.Equal(t, 2, u.Instances, "a build over quota stores nothing")
				_, err = s.CreateBuilds(ctx, []store.InstanceBuild{newBuild("cb-room", "r3")}, q)
				require.NoError(t, err)
			})

			t.Run("RaceForTheLastSlots", func(t *testing.T) {
				const limit, racers = 3, 12
				q := &store.BuildQuota{Limits: map[string]int{compute.QuotaInstances: limit}}
				var (
					wg          sync.WaitGroup
					mu          sync.Mutex
					won, quotas int
					other       []error
				)
				for i := range racers {
					wg.Go(func() {
						_, err := s.CreateBuilds(ctx, []store.InstanceBuild{newBuild("cb-race", uuid.NewString()[:8]+string(rune('a'+i)))}, q)
						mu.Lock()
						defer mu.Unlock()
						switch {
						case err == nil:
							won++
						case errors.Is(err, compute.ErrQuotaExceeded):
							quotas++
						default:
							other = append(other, err)
						}
					})
				}
				wg.Wait()
				require.Empty(t, other)
				assert.LessOrEqual(t, won, limit, "racing creates never together exceed the quota")
				u, err := s.Instances().Usage(ctx, "cb-race", "")
				require.NoError(t, err)
				assert.Equal(t, won, u.Instances, "the losers left no live instance")
				if s.Dialect() == store.SQLite {
					assert.Equal(t, limit, won, "on SQLite the check is atomic with the writes: every slot is taken")
				}
			})
		})
	}
}
