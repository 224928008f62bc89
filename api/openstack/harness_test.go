package openstack_test

// The end-to-end tests run the HTTP handler over a real store (SQLite in
// memory) and in-test doubles of the conductor and the compute agent that
// implement the contract interfaces (api.Conductor, api.Agent) over the
// fake hypervisor (drivers/fake). The real conductor.Service and
// agent.Client are wired in examples/allinone; these doubles stand in for
// them here so that the API can be tested on its own. Casts are queued to
// one worker goroutine, as a queue would deliver them; Drain waits until
// the worker has run everything queued so far.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/novakit/novakit/api"
	"github.com/novakit/novakit/api/openstack"
	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/drivers/fake"
	"github.com/novakit/novakit/identity"
	"github.com/novakit/novakit/store"
)

// worker runs queued casts in order on one goroutine.
type worker struct {
	mu    sync.Mutex
	queue chan func()
	wg    sync.WaitGroup
	stop  chan struct{}
	done  chan struct{}
}

func newWorker() *worker {
	w := &worker{queue: make(chan func(), 4096), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for {
			select {
			case f := <-w.queue:
				f()
				w.wg.Done()
			case <-w.stop:
				return
			}
		}
	}()
	return w
}

func (w *worker) cast(f func()) {
	w.wg.Add(1)
	w.queue <- f
}

func (w *worker) drain() { w.wg.Wait() }

func (w *worker) close() {
	w.drain()
	close(w.stop)
	<-w.done
}

// cloud is the doubles' shared state: the store, the fake hypervisors and
// the worker.
type cloud struct {
	st    *store.Store
	fake  *fake.Cloud
	w     *worker
	mu    sync.Mutex
	next  int
	hosts []string
	// failBuilds makes every build fail (the instance goes to ERROR).
	failBuilds bool
}

var bg = context.Background()

func (c *cloud) update(id string, u compute.InstanceUpdate) *compute.Instance {
	inst, err := c.st.Instances().Update(bg, id, u)
	if err != nil {
		return nil
	}
	return inst
}

// move re-creates the fake guest of inst on host to (a resize or
// migration in the doubles) and returns its handle.
func (c *cloud) move(inst *compute.Instance, from, to string, fl compute.Flavor) []byte {
	if h := c.fake.Host(from); h != nil {
		_ = compute.IgnoreNotFound(h.Destroy(bg, compute.GuestOf(inst), compute.DestroyOptions{}))
	}
	hd, err := c.fake.Host(to).Spawn(bg, &compute.SpawnSpec{Instance: inst, Flavor: fl, PowerOn: true})
	if err != nil {
		return nil
	}
	return hd.Encode()
}

func (c *cloud) fault(id string, err error) {
	_, _ = c.st.Faults().Add(bg, &compute.InstanceFault{InstanceUUID: id, Code: 500, Message: err.Error()})
	c.update(id, compute.InstanceUpdate{VMState: compute.Ptr(compute.VMError), TaskState: compute.Ptr(compute.TaskNone)})
}

// conductorDouble implements api.Conductor.
type conductorDouble struct{ *cloud }

func (c conductorDouble) ScheduleAndBuildInstances(_ context.Context, req *compute.BuildRequest) error {
	for _, id := range req.InstanceUUIDs {
		c.w.cast(func() { c.build(id, req) })
	}
	return nil
}

func (c conductorDouble) build(id string, req *compute.BuildRequest) {
	inst, err := c.st.Instances().Get(bg, id)
	if err != nil {
		return // deleted before it was scheduled
	}
	if c.failBuilds {
		c.fault(id, fmt.Errorf("%w: There are not enough hosts available.", compute.ErrNoValidHost))
		return
	}
	c.mu.Lock()
	host := c.hosts[c.next%len(c.hosts)]
	c.next++
	c.mu.Unlock()
	h := c.fake.Host(host)
	hd, err := h.Spawn(bg, &compute.SpawnSpec{Instance: inst, Flavor: inst.Flavor, Image: req.Spec.Image, PowerOn: true, AdminPassword: req.AdminPassword})
	if err != nil {
		c.fault(id, err)
		return
	}
	c.update(id, compute.InstanceUpdate{
		ExpectedVMStates: []compute.VMState{compute.VMBuilding}, ExpectedTaskStates: []compute.TaskState{compute.TaskScheduling},
		Host: &host, Node: &host, VMState: compute.Ptr(compute.VMActive), TaskState: compute.Ptr(compute.TaskNone),
		PowerState: compute.Ptr(compute.PowerRunning), LaunchedAt: compute.Ptr(time.Now()), DriverHandle: hd.Encode(),
		AvailabilityZone: compute.Ptr(compute.DefaultAvailabilityZone),
	})
}

func (c conductorDouble) MigrateServer(_ context.Context, inst *compute.Instance, req compute.MigrateRequest) error {
	c.mu.Lock()
	dest := ""
	for _, h := range c.hosts {
		if h != inst.Host {
			dest = h
			break
		}
	}
	c.mu.Unlock()
	if dest == "" || req.Host == "nohost" {
		return fmt.Errorf("conductor: %w", compute.ErrNoValidHost)
	}
	nf := inst.Flavor
	if req.NewFlavor != nil {
		nf = *req.NewFlavor
	}
	mig, err := c.st.Migrations().Create(bg, &compute.Migration{
		InstanceUUID: inst.UUID, MigrationType: req.MigrationType(), Status: compute.MigrationFinished,
		SourceCompute: inst.Host, SourceNode: inst.Node, DestCompute: dest, DestNode: dest, DestHost: dest,
		OldFlavorID: inst.Flavor.FlavorID, NewFlavorID: nf.FlavorID, ProjectID: inst.ProjectID, UserID: inst.UserID,
	})
	if err != nil {
		return err
	}
	_ = mig
	old := inst.Flavor
	c.w.cast(func() {
		hd := c.move(inst, inst.Host, dest, nf)
		c.update(inst.UUID, compute.InstanceUpdate{
			ExpectedTaskStates: []compute.TaskState{compute.TaskResizePrep}, DriverHandle: hd,
			VMState: compute.Ptr(compute.VMResized), TaskState: compute.Ptr(compute.TaskNone),
			Host: &dest, Node: &dest, OldFlavor: &old, NewFlavor: &nf, Flavor: &nf,
		})
	})
	return nil
}

func (c conductorDouble) RebuildInstance(_ context.Context, inst *compute.Instance, req compute.RebuildRequest) error {
	c.w.cast(func() {
		u := compute.InstanceUpdate{
			ExpectedTaskStates: []compute.TaskState{compute.TaskRebuilding},
			VMState:            compute.Ptr(compute.VMActive), TaskState: compute.Ptr(compute.TaskNone),
			ImageRef: &req.ImageRef, PowerState: compute.Ptr(compute.PowerRunning),
		}
		if req.Evacuate {
			host := req.Host
			if host == "" {
				for _, h := range c.hosts {
					if h != inst.Host {
						host = h
						break
					}
				}
			}
			u.Host, u.Node = &host, &host
			u.DriverHandle = c.move(inst, inst.Host, host, inst.Flavor)
			if req.TargetState == compute.VMStopped {
				if hd, err := compute.DecodeHandle(u.DriverHandle); err == nil {
					_ = c.fake.Host(host).PowerOff(bg, compute.Guest{UUID: inst.UUID, Handle: hd}, 0)
				}
			}
			if req.TargetState == compute.VMStopped {
				u.VMState, u.PowerState = compute.Ptr(compute.VMStopped), compute.Ptr(compute.PowerShutdown)
			}
		}
		c.update(inst.UUID, u)
	})
	return nil
}

func (c conductorDouble) UnshelveInstance(_ context.Context, inst *compute.Instance, req compute.UnshelveRequest) error {
	c.w.cast(func() {
		host := inst.Host
		if host == "" {
			host = c.hosts[0]
			if req.Host != "" {
				host = req.Host
			}
		}
		c.update(inst.UUID, compute.InstanceUpdate{
			ExpectedTaskStates: []compute.TaskState{compute.TaskUnshelving},
			VMState:            compute.Ptr(compute.VMActive), TaskState: compute.Ptr(compute.TaskNone),
			Host: &host, Node: &host, PowerState: compute.Ptr(compute.PowerRunning),
		})
	})
	return nil
}

// agentDouble implements api.Agent over the fake hypervisor.
type agentDouble struct{ *cloud }

// power runs a driver operation and then records the new states, with
// the task state the API set as the compare-and-swap's expectation.
func (a agentDouble) power(inst *compute.Instance, op func(*fake.Host, compute.Guest) error, vm compute.VMState, ps compute.PowerState) error {
	task := inst.TaskState
	a.w.cast(func() {
		h := a.fake.Host(inst.Host)
		if h == nil {
			a.fault(inst.UUID, fmt.Errorf("no host %q", inst.Host))
			return
		}
		if err := op(h, compute.GuestOf(inst)); err != nil {
			a.update(inst.UUID, compute.InstanceUpdate{ExpectedTaskStates: []compute.TaskState{task}, TaskState: compute.Ptr(compute.TaskNone)})
			return
		}
		a.update(inst.UUID, compute.InstanceUpdate{
			ExpectedTaskStates: []compute.TaskState{task}, TaskState: compute.Ptr(compute.TaskNone),
			VMState: &vm, PowerState: &ps,
		})
	})
	return nil
}

func (a agentDouble) StopInstance(_ context.Context, inst *compute.Instance, _ bool) error {
	return a.power(inst, func(h *fake.Host, g compute.Guest) error { return h.PowerOff(bg, g, 0) }, compute.VMStopped, compute.PowerShutdown)
}

func (a agentDouble) StartInstance(_ context.Context, inst *compute.Instance) error {
	return a.power(inst, func(h *fake.Host, g compute.Guest) error { return h.PowerOn(bg, g) }, compute.VMActive, compute.PowerRunning)
}

func (a agentDouble) RebootInstance(_ context.Context, inst *compute.Instance, hard bool) error {
	kind := compute.RebootSoft
	if hard {
		kind = compute.RebootHard
	}
	return a.power(inst, func(h *fake.Host, g compute.Guest) error { return h.Reboot(bg, g, kind) }, compute.VMActive, compute.PowerRunning)
}

func (a agentDouble) PauseInstance(_ context.Context, inst *compute.Instance) error {
	return a.power(inst, func(h *fake.Host, g compute.Guest) error { return h.Pause(bg, g) }, compute.VMPaused, compute.PowerPaused)
}

func (a agentDouble) UnpauseInstance(_ context.Context, inst *compute.Instance) error {
	return a.power(inst, func(h *fake.Host, g compute.Guest) error { return h.Unpause(bg, g) }, compute.VMActive, compute.PowerRunning)
}

func (a agentDouble) SuspendInstance(_ context.Context, inst *compute.Instance) error {
	return a.power(inst, func(h *fake.Host, g compute.Guest) error { return h.Suspend(bg, g) }, compute.VMSuspended, compute.PowerSuspended)
}

func (a agentDouble) ResumeInstance(_ context.Context, inst *compute.Instance) error {
	return a.power(inst, func(h *fake.Host, g compute.Guest) error { return h.Resume(bg, g) }, compute.VMActive, compute.PowerRunning)
}

func (a agentDouble) TerminateInstance(_ context.Context, inst *compute.Instance) error {
	a.w.cast(func() {
		if h := a.fake.Host(inst.Host); h != nil {
			_ = compute.IgnoreNotFound(h.Destroy(bg, compute.GuestOf(inst), compute.DestroyOptions{}))
		}
		_, _ = a.st.Instances().SoftDelete(bg, inst.UUID, compute.InstanceUpdate{
			VMState: compute.Ptr(compute.VMDeleted), TaskState: compute.Ptr(compute.TaskNone),
			PowerState: compute.Ptr(compute.PowerNoState), TerminatedAt: compute.Ptr(time.Now()),
		})
	})
	return nil
}

func (a agentDouble) SnapshotInstance(_ context.Context, inst *compute.Instance, _ string) error {
	a.w.cast(func() {
		a.update(inst.UUID, compute.InstanceUpdate{ExpectedTaskStates: []compute.TaskState{compute.TaskImageSnapshotPending}, TaskState: compute.Ptr(compute.TaskNone)})
	})
	return nil
}

func (a agentDouble) ShelveInstance(_ context.Context, inst *compute.Instance, _ string) error {
	return a.power(inst, func(h *fake.Host, g compute.Guest) error {
		if err := h.PowerOff(bg, g, 0); err != nil && !errors.Is(err, compute.ErrInvalidState) {
			return err // a guest already shut off is fine
		}
		return nil
	}, compute.VMShelved, compute.PowerShutdown)
}

func (a agentDouble) ShelveOffloadInstance(_ context.Context, inst *compute.Instance) error {
	a.w.cast(func() {
		if h := a.fake.Host(inst.Host); h != nil {
			_ = compute.IgnoreNotFound(h.Destroy(bg, compute.GuestOf(inst), compute.DestroyOptions{}))
		}
		a.update(inst.UUID, compute.InstanceUpdate{
			ExpectedTaskStates: []compute.TaskState{compute.TaskShelvingOffloading}, TaskState: compute.Ptr(compute.TaskNone),
			VMState: compute.Ptr(compute.VMShelvedOffloaded), Host: compute.Ptr(""), Node: compute.Ptr(""),
		})
	})
	return nil
}

func (a agentDouble) ConfirmResize(_ context.Context, inst *compute.Instance, m *compute.Migration) error {
	a.w.cast(func() {
		_, _ = a.st.Migrations().Update(bg, m.UUID, store.MigrationUpdate{Status: compute.Ptr(compute.MigrationConfirmed)})
		a.update(inst.UUID, compute.InstanceUpdate{VMState: compute.Ptr(compute.VMActive), ClearResizeFlavors: true})
	})
	return nil
}

func (a agentDouble) RevertResize(_ context.Context, inst *compute.Instance, m *compute.Migration) error {
	old := inst.OldFlavor
	a.w.cast(func() {
		_, _ = a.st.Migrations().Update(bg, m.UUID, store.MigrationUpdate{Status: compute.Ptr(compute.MigrationReverted)})
		hd := a.move(inst, inst.Host, m.SourceCompute, *old)
		a.update(inst.UUID, compute.InstanceUpdate{DriverHandle: hd,
			VMState: compute.Ptr(compute.VMActive), TaskState: compute.Ptr(compute.TaskNone), Flavor: old,
			Host: &m.SourceCompute, Node: &m.SourceNode, ClearResizeFlavors: true,
		})
	})
	return nil
}

func (a agentDouble) GetConsoleOutput(_ context.Context, inst *compute.Instance, tail int) (string, error) {
	h := a.fake.Host(inst.Host)
	if h == nil {
		return "", compute.NotFound("host", inst.Host)
	}
	b, err := h.ConsoleOutput(bg, compute.GuestOf(inst))
	if err != nil {
		return "", err
	}
	lines := strings.SplitAfter(string(b), "\n")
	if tail >= 0 && tail < len(lines) {
		lines = lines[len(lines)-tail:]
	}
	return strings.Join(lines, ""), nil
}

// imagesDouble is an in-memory image service (api.Images).
type imagesDouble struct {
	mu     sync.Mutex
	images map[string]compute.ImageMeta
}

func (im *imagesDouble) ImageMeta(_ context.Context, id string) (compute.ImageMeta, error) {
	im.mu.Lock()
	defer im.mu.Unlock()
	m, ok := im.images[id]
	if !ok {
		return compute.ImageMeta{}, compute.NotFound("image", id)
	}
	return m, nil
}

func (im *imagesDouble) CreateImage(_ context.Context, m compute.ImageMeta, _ string) (compute.ImageMeta, error) {
	im.mu.Lock()
	defer im.mu.Unlock()
	if m.ID == "" {
		m.ID = uuid.NewString()
	}
	im.images[m.ID] = m
	return m, nil
}

func (im *imagesDouble) Upload(context.Context, string, io.Reader) error { return nil }
func (im *imagesDouble) Download(context.Context, string) (io.ReadCloser, error) {
	return io.NopCloser(strings.NewReader("")), nil
}
func (im *imagesDouble) DeleteImage(_ context.Context, id string) error {
	im.mu.Lock()
	defer im.mu.Unlock()
	delete(im.images, id)
	return nil
}

var (
	_ api.Conductor = conductorDouble{}
	_ api.Agent     = agentDouble{}
	_ api.Images    = (*imagesDouble)(nil)
)

const imageID = "70a599e0-31e7-49b7-b260-868f441e862b"

// testAuth is identity.NoAuth, except that users whose name starts with
// "reader" get only the reader role.
func testAuth() identity.Authenticator {
	na := identity.NoAuth()
	return identity.AuthenticatorFunc(func(ctx context.Context, tok string) (*identity.Credentials, error) {
		c, err := na.Authenticate(ctx, tok)
		if err == nil && strings.HasPrefix(c.UserID, "reader") {
			c.Roles = []string{"reader"}
		}
		return c, err
	})
}

// env is one test cloud behind an httptest server.
type env struct {
	t     testing.TB
	cloud *cloud
	api   *api.API
	h     *openstack.Handler
	srv   *httptest.Server
	imgs  *imagesDouble
}

// newEnv builds a store with Nova's sample flavors, a fake cloud of
// hosts registered as compute services and nodes, the doubles, the API
// and the handler. Tokens are identity.NoAuth's "user:project" (user
// "admin" is admin).
func newEnv(t testing.TB, hosts int) *env {
	t.Helper()
	return newEnvWith(t, hosts, nil)
}

// newEnvWith is newEnv with a policy (nil: the API's default).
func newEnvWith(t testing.TB, hosts int, pol api.Policy) *env {
	t.Helper()
	st, err := store.Open(bg, "sqlite://:memory:", nil)
	require.NoError(t, err)
	fc, err := fake.New(fake.Config{Hosts: hosts})
	require.NoError(t, err)
	c := &cloud{st: st, fake: fc, w: newWorker()}
	for _, h := range fc.Hosts() {
		c.hosts = append(c.hosts, h.Name())
		_, err := st.Services().Create(bg, &compute.Service{Host: h.Name(), Binary: "nova-compute", Topic: "compute", LastSeenUp: time.Now()})
		require.NoError(t, err)
		res, err := h.HostResources(bg)
		require.NoError(t, err)
		_, err = st.ComputeNodes().Create(bg, &compute.ComputeNode{
			UUID: h.UUID(), Host: h.Name(), HypervisorHostname: res.Hostname, HypervisorType: res.HypervisorType,
			HypervisorVersion: res.HypervisorVersion, VCPUs: res.VCPUs, MemoryMB: res.MemoryMB, LocalGB: res.LocalGB,
			FreeRAMMB: res.MemoryMB, FreeDiskGB: res.LocalGB, CPUInfo: `{"arch":"x86_64"}`,
		})
		require.NoError(t, err)
	}
	_, err = st.Services().Create(bg, &compute.Service{Host: "controller", Binary: "nova-conductor", Topic: "conductor", LastSeenUp: time.Now()})
	require.NoError(t, err)
	for _, f := range []compute.Flavor{
		{FlavorID: "1", Name: "m1.tiny", VCPUs: 1, MemoryMB: 512, RootGB: 1, IsPublic: true},
		{FlavorID: "2", Name: "m1.small", VCPUs: 1, MemoryMB: 2048, RootGB: 20, IsPublic: true},
		{FlavorID: "3", Name: "m1.medium", VCPUs: 2, MemoryMB: 4096, RootGB: 40, IsPublic: true},
		{FlavorID: "42", Name: "private", VCPUs: 1, MemoryMB: 256, RootGB: 1, IsPublic: false},
	} {
		_, err := st.Flavors().Create(bg, &f)
		require.NoError(t, err)
	}
	imgs := &imagesDouble{images: map[string]compute.ImageMeta{imageID: {ID: imageID, Name: "cirros", DiskFormat: "qcow2", ContainerFormat: "bare", MinDiskGB: 1}}}
	// The doubles send no heartbeats: services count as up for an hour.
	a, err := api.New(api.Options{Store: st, Conductor: conductorDouble{c}, Agent: agentDouble{c}, Images: imgs, ServiceDownTime: time.Hour, Policy: pol})
	require.NoError(t, err)
	h, err := openstack.New(openstack.Options{API: a, Authenticator: testAuth(), Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	e := &env{t: t, cloud: c, api: a, h: h, srv: srv, imgs: imgs}
	t.Cleanup(func() {
		srv.Close()
		c.w.close()
		_ = fc.Close()
		_ = st.Close()
	})
	return e
}

func (e *env) drain() { e.cloud.w.drain() }

// resp is a decoded answer.
type resp struct {
	Code   int
	Header http.Header
	Body   map[string]any
	Raw    string
}

// do sends a request as token ("" for none) at microversion v ("" for
// none) and decodes the answer.
func (e *env) do(method, path, token, v string, body any) resp {
	e.t.Helper()
	return e.doT(e.t, method, path, token, v, body)
}

// doT is do reporting to t (fuzz targets must not use the F).
func (e *env) doT(t testing.TB, method, path, token, v string, body any) resp {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		require.NoError(t, err)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("X-Auth-Token", token)
	}
	if v != "" {
		req.Header.Set("OpenStack-API-Version", "compute "+v)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := resp{Code: res.StatusCode, Header: res.Header, Raw: string(raw)}
	if len(raw) > 0 {
		_ = json.Unmarshal(raw, &out.Body)
	}
	return out
}

// create boots one server as token and returns its id (status 202 checked).
func (e *env) create(token, name string) string {
	e.t.Helper()
	r := e.do("POST", "/v2.1/servers", token, "latest", map[string]any{"server": map[string]any{
		"name": name, "flavorRef": "1", "imageRef": imageID, "networks": "none",
	}})
	require.Equal(e.t, http.StatusAccepted, r.Code, r.Raw)
	return r.Body["server"].(map[string]any)["id"].(string)
}

func (e *env) server(token, id string) map[string]any {
	e.t.Helper()
	r := e.do("GET", "/v2.1/servers/"+id, token, "latest", nil)
	require.Equal(e.t, http.StatusOK, r.Code, r.Raw)
	return r.Body["server"].(map[string]any)
}
