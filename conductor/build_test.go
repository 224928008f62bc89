package conductor_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/conductor"
)

func TestScheduleAndBuild(t *testing.T) {
	e := newEnv(t, "", 3, conductor.Config{})
	req := e.newInstances(2, small)
	require.NoError(t, e.c.ScheduleAndBuildInstances(e.ctx, req))

	builds := e.agent.castsOf("build")
	require.Len(t, builds, 2)
	for i, id := range req.InstanceUUIDs {
		in := e.instance(id)
		assert.Equal(t, compute.VMActive, in.VMState)
		assert.Equal(t, "host0", in.Host)
		assert.Equal(t, "host0.node", in.Node)
		assert.Equal(t, map[string]map[string]int64{e.hosts[0].RP: {"VCPU": 1, "MEMORY_MB": 512, "DISK_GB": 1}}, e.allocs(id))
		assert.Equal(t, "host0", builds[i].Chosen.ServiceHost)
		assert.Equal(t, []string{"host1", "host2"}, []string{builds[i].Alternates[0].ServiceHost, builds[i].Alternates[1].ServiceHost})
		spec, err := e.st.RequestSpecs().Get(e.ctx, id)
		require.NoError(t, err)
		assert.Equal(t, id, spec.InstanceUUID)
		require.NotNil(t, spec.Retry)
		assert.Equal(t, 1, spec.Retry.NumAttempts)
		ev := e.event(id, req.RequestID, conductor.EventScheduleAndBuild)
		require.NotNil(t, ev)
		assert.Equal(t, compute.EventSuccess, ev.Result)
	}

	// A redelivered request builds nothing again.
	require.NoError(t, e.c.ScheduleAndBuildInstances(e.ctx, req))
	assert.Len(t, e.agent.castsOf("build"), 2)
	assert.EqualValues(t, 1, e.sched.calls.Load())
}

func TestScheduleAndBuildRefusesBadRequests(t *testing.T) {
	e := newEnv(t, "", 1, conductor.Config{})
	for name, tc := range map[string]struct {
		req   *compute.BuildRequest
		field string
	}{
		"nil":        {nil, "build_request"},
		"request id": {&compute.BuildRequest{InstanceUUIDs: []string{"x"}, Spec: &compute.RequestSpec{}}, "request_id"},
		"instances":  {&compute.BuildRequest{RequestID: "r", Spec: &compute.RequestSpec{}}, "instance_uuids"},
		"spec":       {&compute.BuildRequest{RequestID: "r", InstanceUUIDs: []string{"x"}}, "request_spec"},
	} {
		t.Run(name, func(t *testing.T) {
			err := e.c.ScheduleAndBuildInstances(e.ctx, tc.req)
			require.ErrorIs(t, err, compute.ErrInvalidInput)
			var ie *compute.InvalidInputError
			require.ErrorAs(t, err, &ie)
			assert.Equal(t, tc.field, ie.Field)
		})
	}
}

func TestNoValidHostBuriesInError(t *testing.T) {
	e := newEnv(t, "", 2, conductor.Config{})
	huge := compute.Flavor{FlavorID: "9", Name: "huge", VCPUs: 64, MemoryMB: 1 << 20, RootGB: 1}
	req := e.newInstances(2, huge)
	require.NoError(t, e.c.ScheduleAndBuildInstances(e.ctx, req))
	assert.Empty(t, e.agent.castsOf("build"))
	for _, id := range req.InstanceUUIDs {
		in := e.instance(id)
		assert.Equal(t, compute.VMError, in.VMState)
		assert.Equal(t, compute.TaskNone, in.TaskState)
		assert.Equal(t, "ERROR", in.Status())
		fs := e.faults(id)
		require.Len(t, fs, 1)
		assert.True(t, strings.HasPrefix(fs[0].Message, "No valid host was found. "), fs[0].Message)
		assert.Equal(t, 500, fs[0].Code)
		assert.Nil(t, e.allocs(id))
		ev := e.event(id, req.RequestID, conductor.EventScheduleAndBuild)
		require.NotNil(t, ev)
		assert.Equal(t, compute.EventError, ev.Result)
	}
}

func TestNoValidHostForSecondInstanceReleasesFirst(t *testing.T) {
	e := newEnv(t, "", 1, conductor.Config{})
	// 4 VCPUs on the only host: two 2-VCPU instances fit, three do not.
	req := e.newInstances(3, medium)
	require.NoError(t, e.c.ScheduleAndBuildInstances(e.ctx, req))
	for _, id := range req.InstanceUUIDs {
		assert.Equal(t, compute.VMError, e.instance(id).VMState)
		assert.Nil(t, e.allocs(id), "allocations of %s leaked", id)
	}
}

func TestRescheduleToAlternate(t *testing.T) {
	e := newEnv(t, "", 3, conductor.Config{})
	e.agent.fail["host0"] = true
	req := e.newInstances(1, small)
	id := req.InstanceUUIDs[0]
	require.NoError(t, e.c.ScheduleAndBuildInstances(e.ctx, req))

	in := e.instance(id)
	assert.Equal(t, compute.VMActive, in.VMState)
	assert.Equal(t, "host1", in.Host)
	assert.Equal(t, map[string]map[string]int64{e.hosts[1].RP: {"VCPU": 1, "MEMORY_MB": 512, "DISK_GB": 1}}, e.allocs(id))
	builds := e.agent.castsOf("build")
	require.Len(t, builds, 2)
	assert.Equal(t, "host1", builds[1].Host)
	require.Len(t, builds[1].Alternates, 1)
	assert.Equal(t, "host2", builds[1].Alternates[0].ServiceHost)
	spec, err := e.st.RequestSpecs().Get(e.ctx, id)
	require.NoError(t, err)
	assert.Equal(t, 2, spec.Retry.NumAttempts)
	assert.Equal(t, [][]string{{"host0", "host0.node"}, {"host1", "host1.node"}}, spec.Retry.Hosts)
	assert.Empty(t, e.faults(id))
	ev := e.event(id, req.RequestID, conductor.EventBuildInstances)
	require.NotNil(t, ev)
	assert.Equal(t, compute.EventSuccess, ev.Result)
}

func TestRescheduleSkipsAlternateWhoseClaimFails(t *testing.T) {
	e := newEnv(t, "", 3, conductor.Config{})
	e.agent.fail["host0"] = true
	// Fill host1 after the scheduler's pass: its alternate claim fails.
	e.sched.afterClaim = func(string) {
		e.sched.afterClaim = nil
		filler := e.newInstances(1, compute.Flavor{FlavorID: "f", Name: "f", VCPUs: 4, MemoryMB: 4096, RootGB: 100})
		e.sched.hosts = []host{e.hosts[1]}
		_, err := e.sched.SelectDestinations(e.ctx, &compute.RequestSpec{ProjectID: "p1", UserID: "u1", Flavor: compute.Flavor{VCPUs: 4, MemoryMB: 4096, RootGB: 100}}, filler.InstanceUUIDs)
		require.NoError(t, err)
		e.sched.hosts = e.hosts
	}
	req := e.newInstances(1, small)
	id := req.InstanceUUIDs[0]
	require.NoError(t, e.c.ScheduleAndBuildInstances(e.ctx, req))
	in := e.instance(id)
	assert.Equal(t, compute.VMActive, in.VMState)
	assert.Equal(t, "host2", in.Host)
	assert.Equal(t, []string{e.hosts[2].RP}, keys(e.allocs(id)))
}

func TestRescheduleExhaustedGoesToError(t *testing.T) {
	e := newEnv(t, "", 3, conductor.Config{})
	for _, h := range e.hosts {
		e.agent.fail[h.Name] = true
	}
	req := e.newInstances(1, small)
	id := req.InstanceUUIDs[0]
	require.NoError(t, e.c.ScheduleAndBuildInstances(e.ctx, req))
	in := e.instance(id)
	assert.Equal(t, compute.VMError, in.VMState)
	assert.Equal(t, compute.TaskNone, in.TaskState)
	assert.Nil(t, e.allocs(id))
	assert.Len(t, e.agent.castsOf("build"), 3, "max attempts 3: host0, host1, host2")
	fs := e.faults(id)
	require.Len(t, fs, 1)
	assert.Contains(t, fs[0].Message, "Exceeded maximum number of retries.")
	assert.Contains(t, fs[0].Details, "spawn failed on host2")
}

func TestMaxAttemptsBoundsRetries(t *testing.T) {
	e := newEnv(t, "", 3, conductor.Config{MaxAttempts: 2})
	for _, h := range e.hosts {
		e.agent.fail[h.Name] = true
	}
	req := e.newInstances(1, small)
	require.NoError(t, e.c.ScheduleAndBuildInstances(e.ctx, req))
	assert.Len(t, e.agent.castsOf("build"), 2)
	assert.Equal(t, compute.VMError, e.instance(req.InstanceUUIDs[0]).VMState)
	assert.Nil(t, e.allocs(req.InstanceUUIDs[0]))
}

func TestRescheduleIsIdempotent(t *testing.T) {
	e := newEnv(t, "", 3, conductor.Config{})
	e.agent.fail["host0"] = true
	req := e.newInstances(1, small)
	id := req.InstanceUUIDs[0]
	require.NoError(t, e.c.ScheduleAndBuildInstances(e.ctx, req))
	first := e.agent.castsOf("build")[0]
	// The same hand-back delivered again: the instance is on host1 now.
	require.NoError(t, e.c.RescheduleInstance(e.ctx, &compute.RescheduleRequest{
		RequestID: req.RequestID, InstanceUUID: id, Spec: req.Spec, Alternates: first.Alternates,
		FailedHost: "host0", Reason: "again",
	}))
	assert.Len(t, e.agent.castsOf("build"), 2)
	assert.Equal(t, "host1", e.instance(id).Host)
	assert.Equal(t, []string{e.hosts[1].RP}, keys(e.allocs(id)))
}

func TestBuildCastFailureReschedules(t *testing.T) {
	e := newEnv(t, "", 2, conductor.Config{})
	e.agent.castErr["host0"] = errors.New("queue unreachable")
	req := e.newInstances(1, small)
	id := req.InstanceUUIDs[0]
	require.NoError(t, e.c.ScheduleAndBuildInstances(e.ctx, req))
	in := e.instance(id)
	assert.Equal(t, compute.VMActive, in.VMState)
	assert.Equal(t, "host1", in.Host)
	assert.Equal(t, []string{e.hosts[1].RP}, keys(e.allocs(id)))
}

func TestInstanceDeletedWhileSchedulingReleasesClaim(t *testing.T) {
	e := newEnv(t, "", 2, conductor.Config{})
	req := e.newInstances(1, small)
	id := req.InstanceUUIDs[0]
	e.sched.afterClaim = func(string) {
		_, err := e.st.Instances().SoftDelete(e.ctx, id, compute.InstanceUpdate{})
		require.NoError(t, err)
	}
	require.NoError(t, e.c.ScheduleAndBuildInstances(e.ctx, req))
	assert.Empty(t, e.agent.castsOf("build"))
	assert.Nil(t, e.allocs(id))
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
