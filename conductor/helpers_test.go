package conductor_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/conductor"
	"github.com/novakit/novakit/placement"
	"github.com/novakit/novakit/store"
)

// host is one simulated compute host: a service, a compute node record
// and a resource provider with the same uuid.
type host struct {
	Name, Node, RP string
}

// testScheduler is a test double of the scheduler contract
// (conductor.Scheduler.SelectDestinations): the real scheduler.Scheduler
// is being built at the same time as the conductor. It walks the hosts
// in order (from a rotating start when spread is set), skips
// spec.IgnoreHosts, honours spec.RequestedDestination.Host, claims the
// flavor's VCPU, MEMORY_MB and DISK_GB on the first host whose claim
// placement accepts (consumer generation null, as Nova's scheduler
// claims), and returns up to two further hosts as unclaimed alternates.
// No host: an error wrapping compute.ErrNoValidHost, with the claims of
// the request's earlier instances released.
type testScheduler struct {
	pl     conductor.Placement
	hosts  []host
	spread bool
	next   atomic.Uint64
	calls  atomic.Int64
	// afterClaim, when set, runs after each claim (the crash test blocks
	// there).
	afterClaim func(instanceUUID string)
}

func resources(f compute.Flavor, bfv bool) map[string]int64 {
	r := map[string]int64{"VCPU": int64(f.VCPUs), "MEMORY_MB": int64(f.MemoryMB)}
	if d := f.DiskGB(bfv); d > 0 {
		r["DISK_GB"] = int64(d)
	}
	return r
}

func allocationRequest(rp string, res map[string]int64) json.RawMessage {
	b, _ := json.Marshal(map[string]any{"allocations": map[string]any{rp: map[string]any{"resources": res}}, "mappings": map[string]any{}})
	return b
}

func (ts *testScheduler) SelectDestinations(ctx context.Context, spec *compute.RequestSpec, uuids []string) ([][]compute.Selection, error) {
	ts.calls.Add(1)
	res := resources(spec.Flavor, spec.IsBFV)
	start := 0
	if ts.spread {
		start = int(ts.next.Add(uint64(len(uuids))) % uint64(len(ts.hosts)))
	}
	var out [][]compute.Selection
	undo := func() {
		for i := range out {
			_ = ts.pl.DeleteAllocations(ctx, uuids[i])
		}
	}
	for _, id := range uuids {
		var list []compute.Selection
		for k := range ts.hosts {
			h := ts.hosts[(start+k)%len(ts.hosts)]
			if slices.Contains(spec.IgnoreHosts, h.Name) {
				continue
			}
			if d := spec.RequestedDestination; d != nil && d.Host != "" && d.Host != h.Name {
				continue
			}
			sel := compute.Selection{ServiceHost: h.Name, Nodename: h.Node, ComputeNodeUUID: h.RP,
				AllocationRequest: allocationRequest(h.RP, res), AllocationRequestVersion: "1.36",
				AvailabilityZone: spec.AvailabilityZone}
			if len(list) == 0 {
				err := ts.pl.SetAllocations(ctx, map[string]placement.ConsumerAllocations{id: {
					Project: spec.ProjectID, User: spec.UserID, ConsumerType: placement.ConsumerTypeInstance,
					Allocations: map[string]map[string]int64{h.RP: res},
				}})
				if err != nil {
					continue
				}
				list = append(list, sel)
				if ts.afterClaim != nil {
					ts.afterClaim(id)
				}
				continue
			}
			if len(list) < 3 {
				list = append(list, sel)
			}
		}
		if len(list) == 0 {
			undo()
			return nil, fmt.Errorf("%w: There are not enough hosts available.", compute.ErrNoValidHost)
		}
		out = append(out, list)
		if ts.spread {
			start++
		}
	}
	return out, nil
}

// cast is one cast the agent double received.
type cast struct {
	Method, Host, Instance string
	Chosen                 *compute.Selection
	Alternates             []compute.Selection
	Migration              *compute.Migration
}

// testAgent is a test double of the compute agents (conductor.Agent). It
// records every cast; for builds it acts as Nova's compute does, through
// the conductor like the real agent: on a host marked failing it puts
// the instance back to scheduling without host, deletes the host's
// allocations and hands the build back (RescheduleInstance); otherwise
// it makes the instance ACTIVE. Hosts in castErr refuse the cast itself
// (the queue is down); with hold set, builds are only recorded.
type testAgent struct {
	c  *conductor.Service
	pl conductor.Placement

	mu      sync.Mutex
	casts   []cast
	fail    map[string]bool
	castErr map[string]error
	hold    bool
	// built is signalled with the instance uuid after each ACTIVE.
	built chan string
	// onCast, when set, runs first in every cast (tests stop the
	// conductor's goroutine there with runtime.Goexit).
	onCast func(method string)
}

func newTestAgent(pl conductor.Placement) *testAgent {
	return &testAgent{pl: pl, fail: map[string]bool{}, castErr: map[string]error{}}
}

func (a *testAgent) record(c cast) error {
	if a.onCast != nil {
		a.onCast(c.Method)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.casts = append(a.casts, c)
	return a.castErr[c.Host]
}

func (a *testAgent) castsOf(method string) []cast {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []cast
	for _, c := range a.casts {
		if c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

func (a *testAgent) BuildAndRunInstance(ctx context.Context, h string, inst *compute.Instance, req *compute.BuildRequest, chosen compute.Selection, alts []compute.Selection) error {
	if err := a.record(cast{Method: "build", Host: h, Instance: inst.UUID, Chosen: &chosen, Alternates: alts}); err != nil {
		return err
	}
	a.mu.Lock()
	fail, hold := a.fail[h], a.hold
	a.mu.Unlock()
	if hold {
		return nil
	}
	if fail {
		if _, err := a.c.UpdateInstance(ctx, inst.UUID, compute.InstanceUpdate{
			ExpectedTaskStates: []compute.TaskState{compute.TaskScheduling, compute.TaskNone},
			TaskState:          compute.Ptr(compute.TaskScheduling), Host: compute.Ptr(""), Node: compute.Ptr(""),
		}); err != nil {
			return nil
		}
		_ = a.pl.DeleteAllocations(ctx, inst.UUID)
		spec := *req.Spec
		return a.c.RescheduleInstance(ctx, &compute.RescheduleRequest{
			RequestID: req.RequestID, InstanceUUID: inst.UUID, Spec: &spec, Alternates: alts,
			FailedHost: h, FailedNode: chosen.Nodename, Reason: "spawn failed on " + h,
			Networks: req.Networks, BlockDevices: req.BlockDevices[inst.UUID],
		})
	}
	now := time.Now()
	if _, err := a.c.UpdateInstance(ctx, inst.UUID, compute.InstanceUpdate{
		ExpectedVMStates:   []compute.VMState{compute.VMBuilding},
		ExpectedTaskStates: []compute.TaskState{compute.TaskScheduling, compute.TaskNone},
		VMState:            compute.Ptr(compute.VMActive), TaskState: compute.Ptr(compute.TaskNone),
		PowerState: compute.Ptr(compute.PowerRunning), LaunchedAt: &now,
	}); err != nil {
		return nil
	}
	if a.built != nil {
		a.built <- inst.UUID
	}
	return nil
}

func (a *testAgent) PrepResize(ctx context.Context, h string, inst *compute.Instance, m *compute.Migration, req compute.MigrateRequest, spec *compute.RequestSpec, chosen compute.Selection, alts []compute.Selection) error {
	return a.record(cast{Method: "prep_resize", Host: h, Instance: inst.UUID, Chosen: &chosen, Alternates: alts, Migration: m})
}

func (a *testAgent) ResizeInstance(ctx context.Context, h string, inst *compute.Instance, m *compute.Migration, req compute.MigrateRequest) error {
	return a.record(cast{Method: "resize_instance", Host: h, Instance: inst.UUID, Migration: m})
}

func (a *testAgent) FinishResize(ctx context.Context, h string, inst *compute.Instance, m *compute.Migration, req compute.MigrateRequest, diskInfo []byte) error {
	return a.record(cast{Method: "finish_resize", Host: h, Instance: inst.UUID, Migration: m})
}

func (a *testAgent) RebuildInstance(ctx context.Context, h string, inst *compute.Instance, req compute.RebuildRequest, m *compute.Migration, chosen *compute.Selection) error {
	return a.record(cast{Method: "rebuild", Host: h, Instance: inst.UUID, Chosen: chosen, Migration: m})
}

func (a *testAgent) UnshelveInstance(ctx context.Context, h string, inst *compute.Instance, req compute.UnshelveRequest, spec *compute.RequestSpec, chosen *compute.Selection) error {
	return a.record(cast{Method: "unshelve", Host: h, Instance: inst.UUID, Chosen: chosen})
}

var _ conductor.Agent = (*testAgent)(nil)

// env is a conductor over a real store and a real placement.Index, with
// the scheduler and agent doubles.
type env struct {
	t     testing.TB
	ctx   context.Context
	st    *store.Store
	pl    *placement.Index
	hosts []host
	sched *testScheduler
	agent *testAgent
	c     *conductor.Service
}

var small = compute.Flavor{FlavorID: "1", Name: "m1.tiny", VCPUs: 1, MemoryMB: 512, RootGB: 1, RXTXFactor: 1, IsPublic: true}
var medium = compute.Flavor{FlavorID: "2", Name: "m1.small", VCPUs: 2, MemoryMB: 2048, RootGB: 20, RXTXFactor: 1, IsPublic: true}

// newEnv opens a store at dbURL ("" = SQLite in memory), creates nHosts
// hosts of 4 VCPU, 4096 MB, 100 GB each (services up, nodes,
// providers) and the conductor.
func newEnv(t testing.TB, dbURL string, nHosts int, cfg conductor.Config) *env {
	t.Helper()
	ctx := context.Background()
	if dbURL == "" {
		dbURL = "sqlite://:memory:"
	}
	st, err := store.Open(ctx, dbURL, nil)
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	e := &env{t: t, ctx: ctx, st: st, pl: placement.New(placement.Options{})}
	for i := range nHosts {
		e.hosts = append(e.hosts, e.addHost(fmt.Sprintf("host%d", i), 4, 4096, 100))
	}
	e.sched = &testScheduler{pl: e.pl, hosts: e.hosts}
	e.agent = newTestAgent(e.pl)
	e.c = conductor.New(st, e.sched, e.pl, e.agent, cfg)
	e.agent.c = e.c
	return e
}

func (e *env) addHost(name string, vcpus, ram, disk int64) host {
	e.t.Helper()
	h := host{Name: name, Node: name + ".node", RP: uuid.NewString()}
	_, err := e.pl.CreateProvider(e.ctx, placement.ProviderSpec{UUID: h.RP, Name: h.Node})
	require.NoError(e.t, err)
	_, _, err = e.pl.SetInventories(e.ctx, h.RP, 0, map[string]placement.Inventory{
		"VCPU": placement.NewInventory(vcpus), "MEMORY_MB": placement.NewInventory(ram), "DISK_GB": placement.NewInventory(disk),
	})
	require.NoError(e.t, err)
	_, err = e.st.ComputeNodes().Create(e.ctx, &compute.ComputeNode{UUID: h.RP, Host: name, HypervisorHostname: h.Node,
		HypervisorType: "fake", VCPUs: int(vcpus), MemoryMB: int(ram), LocalGB: int(disk)})
	require.NoError(e.t, err)
	_, err = e.st.Services().Create(e.ctx, &compute.Service{Host: name, Binary: "nova-compute", Topic: "compute", LastSeenUp: time.Now()})
	require.NoError(e.t, err)
	return h
}

// newInstances stores n instances as the API leaves them for the
// conductor (building, scheduling, a create action) and returns the
// build request.
func (e *env) newInstances(n int, f compute.Flavor) *compute.BuildRequest {
	e.t.Helper()
	req := &compute.BuildRequest{RequestID: "req-" + uuid.NewString(),
		Spec:     &compute.RequestSpec{ProjectID: "p1", UserID: "u1", Flavor: f, Image: compute.ImageMeta{ID: "img"}, NumInstances: n},
		Networks: []compute.RequestedNetwork{{Auto: true}}}
	for i := range n {
		in, err := e.st.Instances().Create(e.ctx, &compute.Instance{UUID: uuid.NewString(), Name: fmt.Sprintf("vm-%d", i),
			ProjectID: "p1", UserID: "u1", ImageRef: "img", Flavor: f, VMState: compute.VMBuilding,
			TaskState: compute.TaskScheduling, LaunchIndex: i})
		require.NoError(e.t, err)
		_, err = e.st.InstanceActions().Start(e.ctx, &compute.InstanceAction{Action: "create", InstanceUUID: in.UUID,
			RequestID: req.RequestID, UserID: "u1", ProjectID: "p1"})
		require.NoError(e.t, err)
		req.InstanceUUIDs = append(req.InstanceUUIDs, in.UUID)
	}
	return req
}

// activeOn builds one instance of flavor f on the first host (through
// the conductor) and returns it.
func (e *env) active(f compute.Flavor) *compute.Instance {
	e.t.Helper()
	req := e.newInstances(1, f)
	require.NoError(e.t, e.c.ScheduleAndBuildInstances(e.ctx, req))
	in := e.instance(req.InstanceUUIDs[0])
	require.Equal(e.t, compute.VMActive, in.VMState)
	return in
}

func (e *env) instance(id string) *compute.Instance {
	e.t.Helper()
	in, err := e.st.Instances().Get(e.ctx, id)
	require.NoError(e.t, err)
	return in
}

// allocs returns the consumer's allocations, nil when it has none.
func (e *env) allocs(consumer string) map[string]map[string]int64 {
	e.t.Helper()
	c, err := e.pl.Consumer(e.ctx, consumer)
	if errors.Is(err, placement.ErrNotFound) {
		return nil
	}
	require.NoError(e.t, err)
	out := map[string]map[string]int64{}
	for rp, pa := range c.Allocations {
		out[rp] = pa.Resources
	}
	return out
}

// setTask moves an instance to a task state as the API does before it
// calls the conductor.
func (e *env) setTask(id string, vm compute.VMState, task compute.TaskState, requestID string, action compute.Action) {
	e.t.Helper()
	_, err := e.st.Instances().Update(e.ctx, id, compute.InstanceUpdate{VMState: &vm, TaskState: &task})
	require.NoError(e.t, err)
	in := e.instance(id)
	_, err = e.st.InstanceActions().Start(e.ctx, &compute.InstanceAction{Action: action.RecordName(), InstanceUUID: id,
		RequestID: requestID, UserID: in.UserID, ProjectID: in.ProjectID})
	require.NoError(e.t, err)
}

func (e *env) faults(id string) []*compute.InstanceFault {
	e.t.Helper()
	fs, err := e.st.Faults().List(e.ctx, id)
	require.NoError(e.t, err)
	return fs
}

// event returns the newest event of the name on the action, or nil.
func (e *env) event(id, requestID, name string) *compute.InstanceActionEvent {
	e.t.Helper()
	a, err := e.st.InstanceActions().Get(e.ctx, id, requestID)
	require.NoError(e.t, err)
	for i := range a.Events { // newest first
		if a.Events[i].Event == name {
			return &a.Events[i]
		}
	}
	return nil
}
