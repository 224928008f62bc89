package api_test

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novakit/novakit/api"
	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/identity"
	"github.com/novakit/novakit/identity/policy"
	"github.com/novakit/novakit/internal/testsvc"
	"github.com/novakit/novakit/store"
)

// recorder is a conductor and agent double that records what it is
// handed and can be told to fail.
type recorder struct {
	mu     sync.Mutex
	builds []*compute.BuildRequest
	casts  []string
	fail   error
}

func (r *recorder) rec(s string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return r.fail
	}
	r.casts = append(r.casts, s)
	return nil
}

func (r *recorder) ScheduleAndBuildInstances(_ context.Context, req *compute.BuildRequest) error {
	if err := r.rec("build"); err != nil {
		return err
	}
	r.mu.Lock()
	r.builds = append(r.builds, req)
	r.mu.Unlock()
	return nil
}
func (r *recorder) MigrateServer(context.Context, *compute.Instance, compute.MigrateRequest) error {
	return r.rec("migrate")
}
func (r *recorder) RebuildInstance(context.Context, *compute.Instance, compute.RebuildRequest) error {
	return r.rec("rebuild")
}
func (r *recorder) UnshelveInstance(context.Context, *compute.Instance, compute.UnshelveRequest) error {
	return r.rec("unshelve")
}
func (r *recorder) StopInstance(context.Context, *compute.Instance, bool) error { return r.rec("stop") }
func (r *recorder) StartInstance(context.Context, *compute.Instance) error      { return r.rec("start") }
func (r *recorder) RebootInstance(context.Context, *compute.Instance, bool) error {
	return r.rec("reboot")
}
func (r *recorder) PauseInstance(context.Context, *compute.Instance) error   { return r.rec("pause") }
func (r *recorder) UnpauseInstance(context.Context, *compute.Instance) error { return r.rec("unpause") }
func (r *recorder) SuspendInstance(context.Context, *compute.Instance) error { return r.rec("suspend") }
func (r *recorder) ResumeInstance(context.Context, *compute.Instance) error  { return r.rec("resume") }
func (r *recorder) TerminateInstance(context.Context, *compute.Instance) error {
	return r.rec("terminate")
}
func (r *recorder) SnapshotInstance(context.Context, *compute.Instance, string) error {
	return r.rec("snapshot")
}
func (r *recorder) ShelveInstance(context.Context, *compute.Instance, string) error {
	return r.rec("shelve")
}
func (r *recorder) ShelveOffloadInstance(context.Context, *compute.Instance) error {
	return r.rec("offload")
}
func (r *recorder) ConfirmResize(context.Context, *compute.Instance, *compute.Migration) error {
	return r.rec("confirm")
}
func (r *recorder) RevertResize(context.Context, *compute.Instance, *compute.Migration) error {
	return r.rec("revert")
}
func (r *recorder) GetConsoleOutput(context.Context, *compute.Instance, int) (string, error) {
	return "", r.rec("console")
}

type noImages struct{}

func (noImages) ImageMeta(_ context.Context, id string) (compute.ImageMeta, error) {
	return compute.ImageMeta{ID: id}, nil
}
func (noImages) CreateImage(_ context.Context, m compute.ImageMeta, _ string) (compute.ImageMeta, error) {
	m.ID = "11111111-1111-1111-1111-111111111111"
	return m, nil
}
func (noImages) Upload(context.Context, string, io.Reader) error { return nil }
func (noImages) Download(context.Context, string) (io.ReadCloser, error) {
	return nil, compute.ErrUnsupported
}
func (noImages) DeleteImage(context.Context, string) error { return nil }

var _ api.Conductor = (*recorder)(nil)
var _ api.Agent = (*recorder)(nil)

func setup(t *testing.T) (*api.API, *store.Store, *recorder) {
	t.Helper()
	return setupURL(t, "sqlite://:memory:")
}

// setupURL is setup on the database at url.
func setupURL(t *testing.T, url string) (*api.API, *store.Store, *recorder) {
	t.Helper()
	st, err := store.Open(context.Background(), url, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	_, err = st.Flavors().Create(context.Background(), &compute.Flavor{FlavorID: "1", Name: "m1.tiny", VCPUs: 1, MemoryMB: 512, RootGB: 1, IsPublic: true})
	require.NoError(t, err)
	_, err = st.Flavors().Create(context.Background(), &compute.Flavor{FlavorID: "4", Name: "m1.large", VCPUs: 4, MemoryMB: 8192, RootGB: 80, IsPublic: true})
	require.NoError(t, err)
	rec := &recorder{}
	a, err := api.New(api.Options{Store: st, Conductor: rec, Agent: rec, Images: noImages{}})
	require.NoError(t, err)
	return a, st, rec
}

func as(user, project string, roles ...string) context.Context {
	if len(roles) == 0 {
		roles = []string{"member", "reader"}
	}
	return identity.NewContext(context.Background(), &identity.Credentials{UserID: user, ProjectID: project, Roles: roles})
}

const img = "70a599e0-31e7-49b7-b260-868f441e862b"

func TestCreateStoresAndHandsOn(t *testing.T) {
	a, st, rec := setup(t)
	ctx := api.WithRequestID(as("u1", "p1"), "req-fixed")
	res, err := a.CreateServers(ctx, api.CreateRequest{Name: "web", FlavorRef: "1", ImageRef: img, MinCount: 2, MaxCount: 3,
		Metadata: map[string]string{"a": "b"}, SchedulerHints: map[string][]string{"same_host": {"x"}}})
	require.NoError(t, err)
	require.Len(t, res.Instances, 3)
	assert.Regexp(t, `^r-[0-9a-z]{8}$`, res.ReservationID)
	assert.Len(t, res.AdminPass, 12)
	require.Len(t, rec.builds, 1)
	br := rec.builds[0]
	assert.Equal(t, "req-fixed", br.RequestID)
	assert.Len(t, br.InstanceUUIDs, 3)
	assert.Equal(t, 3, br.Spec.NumInstances)
	assert.Equal(t, []string{"x"}, br.Spec.SchedulerHints["same_host"])
	for i, inst := range res.Instances {
		got, err := st.Instances().Get(ctx, inst.UUID)
		require.NoError(t, err)
		assert.Equal(t, compute.VMBuilding, got.VMState)
		assert.Equal(t, compute.TaskScheduling, got.TaskState)
		assert.Equal(t, i, got.LaunchIndex)
		assert.Equal(t, res.ReservationID, got.ReservationID)
		assert.Equal(t, "web-"+string(rune('1'+i)), got.Name)
		spec, err := st.RequestSpecs().Get(ctx, inst.UUID)
		require.NoError(t, err)
		assert.Equal(t, inst.UUID, spec.InstanceUUID)
		act, err := st.InstanceActions().Get(ctx, inst.UUID, "req-fixed")
		require.NoError(t, err)
		assert.Equal(t, "create", act.Action)
		bdms, err := st.BlockDevices().ListByInstance(ctx, inst.UUID)
		require.NoError(t, err)
		require.Len(t, bdms, 1)
		assert.Equal(t, "image", bdms[0].SourceType)
		assert.Len(t, br.BlockDevices[inst.UUID], 1)
	}
}

func TestCreateQuota(t *testing.T) {
	a, st, _ := setup(t)
	ctx := as("u1", "p1")
	require.NoError(t, st.Quotas().Set(ctx, "p1", "", compute.QuotaInstances, 3))
	// max_count is reduced to what quota allows when min_count fits.
	res, err := a.CreateServers(ctx, api.CreateRequest{Name: "a", FlavorRef: "1", ImageRef: img, MinCount: 1, MaxCount: 5})
	require.NoError(t, err)
	assert.Len(t, res.Instances, 3)
	_, err = a.CreateServers(ctx, api.CreateRequest{Name: "b", FlavorRef: "1", ImageRef: img})
	require.ErrorIs(t, err, compute.ErrQuotaExceeded)
	var qe *api.QuotaError
	require.ErrorAs(t, err, &qe)
	assert.Equal(t, []string{"instances"}, qe.Resources)
	assert.Contains(t, err.Error(), "Quota exceeded for instances")
	// Cores: the large flavor needs 4 of the default 20.
	_, err = a.CreateServers(as("u2", "p2"), api.CreateRequest{Name: "c", FlavorRef: "4", ImageRef: img, MinCount: 6})
	require.ErrorIs(t, err, compute.ErrQuotaExceeded)
	assert.Contains(t, err.Error(), "cores")
	// Another project is not affected.
	_, err = a.CreateServers(as("u2", "p2"), api.CreateRequest{Name: "d", FlavorRef: "1", ImageRef: img})
	require.NoError(t, err)
	// Metadata items.
	md := map[string]string{}
	for i := 0; i < 129; i++ {
		md[string(rune('a'+i%26))+string(rune('a'+i/26))] = "v"
	}
	_, err = a.CreateServers(as("u2", "p2"), api.CreateRequest{Name: "e", FlavorRef: "1", ImageRef: img, Metadata: md})
	require.ErrorIs(t, err, compute.ErrQuotaExceeded)
}

// TestCreateQuotaRace: creates racing for the last quota slots never
// together get more than the quota, and a multi-create that races
// shrinks to what is left. On a SQLite file (group-committed writes) the
// count is atomic with the writes, so every slot is taken; on PostgreSQL
// the store rechecks after its commit, so racers may both lose.
func TestCreateQuotaRace(t *testing.T) {
	for _, db := range []struct {
		name  string
		url   func(t *testing.T) string
		exact bool
	}{
		{"sqlite-file", func(t *testing.T) string { return "sqlite://" + filepath.Join(t.TempDir(), "nova.db") }, true},
		{"postgres", func(t *testing.T) string { return testsvc.NewDatabase(t, testsvc.Postgres(t)) }, false},
	} {
		t.Run(db.name, func(t *testing.T) {
			a, st, rec := setupURL(t, db.url(t))
			ctx := as("u1", "p1")
			const limit, racers = 5, 16
			require.NoError(t, st.Quotas().Set(ctx, "p1", "", compute.QuotaInstances, limit))
			var (
				wg           sync.WaitGroup
				mu           sync.Mutex
				won, refused int
			)
			for i := range racers {
				wg.Go(func() {
					req := api.CreateRequest{Name: "r", FlavorRef: "1", ImageRef: img}
					if i%4 == 0 {
						req.MinCount, req.MaxCount = 1, 3
					}
					res, err := a.CreateServers(ctx, req)
					mu.Lock()
					defer mu.Unlock()
					if err != nil {
						assert.ErrorIs(t, err, compute.ErrQuotaExceeded)
						refused++
						return
					}
					won += len(res.Instances)
				})
			}
			wg.Wait()
			t.Logf("%d of %d slots taken, %d creates refused", won, limit, refused)
			assert.LessOrEqual(t, won, limit, "no slot is taken twice")
			if db.exact {
				assert.Equal(t, limit, won, "every slot is taken")
			}
			assert.NotZero(t, refused)
			u, err := st.Instances().Usage(ctx, "p1", "")
			require.NoError(t, err)
			assert.Equal(t, won, u.Instances, "the refused creates left no live instance")
			n := 0
			for _, b := range rec.builds {
				n += len(b.InstanceUUIDs)
			}
			assert.Equal(t, won, n, "only the instances created were handed to the conductor")
		})
	}
}

func TestCreateCastFailureLeavesNothing(t *testing.T) {
	a, st, rec := setup(t)
	ctx := as("u1", "p1")
	rec.fail = compute.ErrUnavailable
	_, err := a.CreateServers(ctx, api.CreateRequest{Name: "a", FlavorRef: "1", ImageRef: img, MaxCount: 2})
	require.ErrorIs(t, err, compute.ErrUnavailable)
	u, err := st.Instances().Usage(ctx, "p1", "")
	require.NoError(t, err)
	assert.Zero(t, u.Instances, "a failed hand-off leaves no live instance to count against quota")
}

type allocRecorder struct {
	mu      sync.Mutex
	deleted []string
}

func (r *allocRecorder) DeleteAllocations(_ context.Context, consumer string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.deleted = append(r.deleted, consumer)
	return nil
}

func TestLocalDeleteOfUnscheduled(t *testing.T) {
	_, st, rec := setup(t)
	allocs := &allocRecorder{}
	a, err := api.New(api.Options{Store: st, Conductor: rec, Agent: rec, Images: noImages{}, Placement: allocs})
	require.NoError(t, err)
	ctx := as("u1", "p1")
	res, err := a.CreateServers(ctx, api.CreateRequest{Name: "a", FlavorRef: "1", ImageRef: img})
	require.NoError(t, err)
	id := res.Instances[0].UUID
	require.NoError(t, a.DeleteServer(ctx, id))
	assert.NotContains(t, rec.casts, "terminate")
	got, err := st.Instances().GetWithDeleted(ctx, id)
	require.NoError(t, err)
	assert.True(t, got.Deleted)
	assert.Equal(t, compute.VMDeleted, got.VMState)
	require.ErrorIs(t, a.DeleteServer(ctx, id), compute.ErrNotFound)
	assert.Equal(t, []string{id}, allocs.deleted, "a claim made while scheduling is dropped")
}

// active stores an instance as if built on host1 with a live service.
func active(t *testing.T, a *api.API, st *store.Store, ctx context.Context) *compute.Instance {
	t.Helper()
	res, err := a.CreateServers(ctx, api.CreateRequest{Name: "a", FlavorRef: "1", ImageRef: img})
	require.NoError(t, err)
	if _, err := st.Services().GetByHostBinary(ctx, "host1", "nova-compute"); err != nil {
		_, err = st.Services().Create(ctx, &compute.Service{Host: "host1", Binary: "nova-compute", LastSeenUp: a.Now()})
		require.NoError(t, err)
	}
	inst, err := st.Instances().Update(ctx, res.Instances[0].UUID, compute.InstanceUpdate{
		Host: compute.Ptr("host1"), Node: compute.Ptr("host1"), VMState: compute.Ptr(compute.VMActive),
		TaskState: compute.Ptr(compute.TaskNone), LaunchedAt: compute.Ptr(a.Now()),
	})
	require.NoError(t, err)
	return inst
}

func TestActionsCASAndRollback(t *testing.T) {
	a, st, rec := setup(t)
	ctx := as("u1", "p1")
	inst := active(t, a, st, ctx)
	require.NoError(t, a.StopServer(ctx, inst.UUID))
	got, _ := st.Instances().Get(ctx, inst.UUID)
	assert.Equal(t, compute.TaskPoweringOff, got.TaskState)
	// A second action while powering off is refused by the table.
	err := a.RebootServer(ctx, inst.UUID, false)
	require.ErrorIs(t, err, compute.ErrInvalidState)
	assert.Contains(t, err.Error(), "task_state powering-off")
	// A failed cast puts the task state back.
	_, err = st.Instances().Update(ctx, inst.UUID, compute.InstanceUpdate{TaskState: compute.Ptr(compute.TaskNone)})
	require.NoError(t, err)
	rec.fail = errors.New("queue down")
	require.Error(t, a.PauseServer(ctx, inst.UUID))
	got, _ = st.Instances().Get(ctx, inst.UUID)
	assert.Equal(t, compute.TaskNone, got.TaskState)
	rec.fail = nil
	// Another project cannot act on it.
	require.ErrorIs(t, a.StopServer(as("u9", "p9"), inst.UUID), compute.ErrNotFound)
	// Concurrent stops: exactly one wins the compare-and-swap.
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = a.StopServer(ctx, inst.UUID) }()
	}
	wg.Wait()
	ok := 0
	for _, e := range errs {
		if e == nil {
			ok++
		} else {
			assert.ErrorIs(t, e, compute.ErrInvalidState)
		}
	}
	assert.Equal(t, 1, ok)
}

func TestDeleteCastsTerminateWhenHostUp(t *testing.T) {
	a, st, rec := setup(t)
	ctx := as("u1", "p1")
	inst := active(t, a, st, ctx)
	require.NoError(t, a.DeleteServer(ctx, inst.UUID))
	assert.Contains(t, rec.casts, "terminate")
	got, _ := st.Instances().Get(ctx, inst.UUID)
	assert.Equal(t, compute.TaskDeleting, got.TaskState)
}

func TestResizeQuotaAndNoValidHost(t *testing.T) {
	a, st, rec := setup(t)
	ctx := as("u1", "p1")
	inst := active(t, a, st, ctx)
	require.NoError(t, st.Quotas().Set(ctx, "p1", "", compute.QuotaCores, 2))
	err := a.ResizeServer(ctx, inst.UUID, "4", "")
	require.ErrorIs(t, err, compute.ErrQuotaExceeded)
	require.NoError(t, st.Quotas().Set(ctx, "p1", "", compute.QuotaCores, 20))
	rec.fail = compute.ErrNoValidHost
	err = a.ResizeServer(ctx, inst.UUID, "4", "")
	require.ErrorIs(t, err, compute.ErrInvalidInput)
	got, _ := st.Instances().Get(ctx, inst.UUID)
	assert.Equal(t, compute.TaskNone, got.TaskState, "task state put back after NoValidHost")
}

func TestPolicyDefaults(t *testing.T) {
	ep, err := api.NewEnforcerPolicy(policy.Options{}, nil)
	require.NoError(t, err)
	for name, p := range map[string]api.Policy{"go checks": api.DefaultPolicy(), "identity/policy": ep} {
		t.Run(name, func(t *testing.T) { checkPolicy(t, p) })
	}
	// Operators override a default with a check string, as in policy.yaml.
	ep, err = api.NewEnforcerPolicy(policy.Options{}, map[string]string{api.RuleServicesList: "role:member"})
	require.NoError(t, err)
	member := &identity.Credentials{UserID: "u", ProjectID: "p1", Roles: []string{"member"}}
	require.NoError(t, ep.Authorize(context.Background(), member, api.RuleServicesList, api.Target{}))
	require.ErrorIs(t, ep.Authorize(context.Background(), member, api.RuleAggregatesIndex, api.Target{}), api.ErrForbidden)
	assert.Len(t, api.PolicyRules(), len(api.DefaultRules()))
}

func checkPolicy(t *testing.T, p api.Policy) {
	member := &identity.Credentials{UserID: "u", ProjectID: "p1", Roles: []string{"member", "reader"}}
	reader := &identity.Credentials{UserID: "r", ProjectID: "p1", Roles: []string{"reader"}}
	admin := &identity.Credentials{UserID: "a", ProjectID: "x", Roles: []string{"admin"}}
	t1 := api.Target{ProjectID: "p1"}
	cases := []struct {
		who  *identity.Credentials
		rule string
		t    api.Target
		ok   bool
	}{
		{member, api.RuleServersCreate, t1, true},
		{reader, api.RuleServersCreate, t1, false},
		{reader, api.RuleServersShow, t1, true},
		{member, api.RuleServersShow, api.Target{ProjectID: "p2"}, false},
		{admin, api.RuleServersShow, api.Target{ProjectID: "p2"}, true},
		{member, api.RuleServicesList, t1, false},
		{admin, api.RuleServicesList, t1, true},
		{member, api.RuleKeypairsShow, api.Target{UserID: "u"}, true},
		{member, api.RuleKeypairsShow, api.Target{UserID: "v"}, false},
		{member, "os_compute_api:no-such-rule", t1, false},
	}
	for _, c := range cases {
		err := p.Authorize(context.Background(), c.who, c.rule, c.t)
		if c.ok {
			assert.NoError(t, err, "%s %s", c.who.UserID, c.rule)
		} else {
			assert.ErrorIs(t, err, api.ErrForbidden, "%s %s", c.who.UserID, c.rule)
		}
	}
}

func TestDeleteOfResizedConfirmsFirst(t *testing.T) {
	a, st, rec := setup(t)
	ctx := as("u1", "p1")
	inst := active(t, a, st, ctx)
	_, err := st.Migrations().Create(ctx, &compute.Migration{InstanceUUID: inst.UUID, MigrationType: compute.MigrationTypeResize,
		Status: compute.MigrationFinished, SourceCompute: "host0", DestCompute: "host1"})
	require.NoError(t, err)
	_, err = st.Instances().Update(ctx, inst.UUID, compute.InstanceUpdate{VMState: compute.Ptr(compute.VMResized)})
	require.NoError(t, err)
	require.NoError(t, a.DeleteServer(ctx, inst.UUID))
	assert.Equal(t, []string{"build", "confirm", "terminate"}, rec.casts)
	ms, err := st.Migrations().List(ctx, store.MigrationFilter{InstanceUUID: inst.UUID}, compute.ListOptions{})
	require.NoError(t, err)
	assert.Equal(t, compute.MigrationConfirming, ms[0].Status)
}
