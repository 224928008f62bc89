package agenttest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/compute/agent"
	"github.com/novakit/novakit/placement"
	"github.com/novakit/novakit/queue"
	"github.com/novakit/novakit/store"
)

// Cloud is a control plane in one process for agents to join: a store
// (SQLite in memory unless told otherwise), a placement index, a mem://
// queue, the harness [Conductor] and an agent client.
type Cloud struct {
	Store     *store.Store
	Placement *placement.Index
	Transport *queue.Transport
	Client    *agent.Client
	Conductor *Conductor
	Errors    *queue.ErrorCodes
	Images    *Images
	Logger    *slog.Logger

	qc *queue.Client

	mu     sync.Mutex
	agents map[string]*Running
}

// Running is an agent started by [Cloud.StartAgent].
type Running struct {
	*agent.Agent
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	err    error
}

// Stop cancels the agent's run and waits for it to return. Idempotent.
func (r *Running) Stop() error {
	r.once.Do(func() {
		r.cancel()
		r.err = <-r.done
	})
	return r.err
}

// Open builds a Cloud on the store at dbURL ("" for SQLite in memory)
// and an in-memory queue.
func Open(ctx context.Context, dbURL string) (*Cloud, error) { return OpenWith(ctx, dbURL, "") }

// OpenWith builds a Cloud on the store at dbURL and the queue at
// queueURL ("" for mem://; "amqp://…" for RabbitMQ).
func OpenWith(ctx context.Context, dbURL, queueURL string) (*Cloud, error) {
	if dbURL == "" {
		dbURL = "sqlite://:memory:"
	}
	if queueURL == "" {
		queueURL = "mem://"
	}
	st, err := store.Open(ctx, dbURL, nil)
	if err != nil {
		return nil, err
	}
	tr, err := queue.Open(ctx, queueURL)
	if err != nil {
		st.Close()
		return nil, err
	}
	codes := queue.NewErrorCodes()
	if err := agent.RegisterErrors(codes); err != nil {
		return nil, err
	}
	qc, err := tr.NewClient(queue.ClientConfig{Errors: codes})
	if err != nil {
		tr.Close()
		st.Close()
		return nil, err
	}
	c := &Cloud{
		Store: st, Placement: placement.New(placement.Options{}), Transport: tr, Errors: codes,
		Client: agent.NewClient(qc), qc: qc, Images: NewImages(), agents: map[string]*Running{},
		Logger: slog.New(slog.DiscardHandler),
	}
	c.Conductor = &Conductor{Store: st, Placement: c.Placement, Agents: c.Client}
	return c, nil
}

// Close stops the agents and closes what Open opened.
func (c *Cloud) Close() error {
	c.mu.Lock()
	as := c.agents
	c.agents = map[string]*Running{}
	c.mu.Unlock()
	var errs []error
	for _, r := range as {
		errs = append(errs, r.Stop())
	}
	errs = append(errs, c.qc.Close(), c.Transport.Close(), c.Store.Close())
	return errors.Join(errs...)
}

// Options returns agent options for host on this cloud, with fast
// periodic tasks off (heartbeat and resource intervals of an hour, no
// power sync) so that tests drive them explicitly.
func (c *Cloud) Options(host string, hv compute.Hypervisor) agent.Options {
	return agent.Options{
		Host: host, Driver: hv, Conductor: c.Conductor, Placement: c.Placement, Images: c.Images,
		Transport: c.Transport, Errors: c.Errors, Logger: c.Logger,
		ReportInterval: time.Hour, ResourceInterval: time.Hour, PowerSyncInterval: -1,
		ShutdownTimeout: 5 * time.Second,
	}
}

// StartAgent starts an agent with o (see [Cloud.Options]) and returns
// once it serves its queue. A previous agent of the same host must have
// been stopped.
func (c *Cloud) StartAgent(ctx context.Context, o agent.Options) (*Running, error) {
	a, err := agent.New(o)
	if err != nil {
		return nil, err
	}
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	if err := a.Start(rctx); err != nil {
		cancel()
		return nil, err
	}
	r := &Running{Agent: a, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- a.Wait() }()
	c.mu.Lock()
	c.agents[o.Host+"/"+uuid.NewString()] = r
	c.mu.Unlock()
	return r, nil
}

// Flavor is the harness's default flavor: 1 vCPU, 64 MB, 1 GB.
var Flavor = compute.Flavor{FlavorID: "at.tiny", Name: "at.tiny", VCPUs: 1, MemoryMB: 64, RootGB: 1}

// BootOptions shape [Cloud.Boot].
type BootOptions struct {
	// Flavor; zero is [Flavor].
	Flavor compute.Flavor
	// ImageRef; "" is "agenttest-image" (registered in Images).
	ImageRef string
	// Alternates are further hosts (with started agents) the build may be
	// rescheduled to, in order.
	Alternates []*agent.Agent
	// Instance, when set, changes the record before it is stored.
	Instance func(*compute.Instance)
}

// Boot does what the API and the conductor do for one instance: store
// it (building/scheduling), record the "create" action, claim the
// host's allocation in placement, and cast build_and_run_instance to
// the host. It returns the instance as stored before the cast; wait
// for the outcome with [Cloud.Wait].
func (c *Cloud) Boot(ctx context.Context, host *agent.Agent, o BootOptions) (*compute.Instance, error) {
	if o.Flavor.FlavorID == "" {
		o.Flavor = Flavor
	}
	if o.ImageRef == "" {
		o.ImageRef = DefaultImage
	}
	id := uuid.NewString()
	in := &compute.Instance{
		UUID: id, Name: "at-" + id[:8], Hostname: "at-" + id[:8], ProjectID: "agenttest", UserID: "agenttest",
		ImageRef: o.ImageRef, Flavor: o.Flavor, VMState: compute.VMBuilding, TaskState: compute.TaskScheduling,
	}
	if o.Instance != nil {
		o.Instance(in)
	}
	inst, err := c.Store.Instances().Create(ctx, in)
	if err != nil {
		return nil, err
	}
	reqID := "req-" + uuid.NewString()
	if _, err := c.Store.InstanceActions().Start(ctx, &compute.InstanceAction{
		Action: string(compute.ActionCreate), InstanceUUID: inst.UUID, RequestID: reqID,
		UserID: inst.UserID, ProjectID: inst.ProjectID,
	}); err != nil {
		return nil, err
	}
	sel, err := c.selection(host, o.Flavor)
	if err != nil {
		return nil, err
	}
	var alts []compute.Selection
	for _, h := range o.Alternates {
		s, err := c.selection(h, o.Flavor)
		if err != nil {
			return nil, err
		}
		alts = append(alts, s)
	}
	if err := c.Conductor.Claim(ctx, inst, sel); err != nil {
		return nil, fmt.Errorf("claim %s: %w", host.Host(), err)
	}
	inst, err = c.Store.Instances().Update(ctx, inst.UUID, compute.InstanceUpdate{
		Host: compute.Ptr(host.Host()), Node: compute.Ptr(sel.Nodename),
	})
	if err != nil {
		return nil, err
	}
	spec := &compute.RequestSpec{InstanceUUID: inst.UUID, ProjectID: inst.ProjectID, UserID: inst.UserID,
		Flavor: o.Flavor, NumInstances: 1, Retry: &compute.RetryInfo{NumAttempts: 1}}
	if err := c.Store.RequestSpecs().Save(ctx, spec); err != nil {
		return nil, err
	}
	br := &compute.BuildRequest{RequestID: reqID, InstanceUUIDs: []string{inst.UUID}, Spec: spec}
	return inst, c.Client.BuildAndRunInstance(ctx, host.Host(), inst, br, sel, alts)
}

func (c *Cloud) selection(a *agent.Agent, f compute.Flavor) (compute.Selection, error) {
	n := a.Node()
	if n == nil {
		return compute.Selection{}, fmt.Errorf("agent %s has no node yet", a.Host())
	}
	return Selection(a.Host(), n.UUID, n.HypervisorHostname, f), nil
}

// Act does what the compute API does before it casts an action to an
// agent: it checks the action against the instance (compute.CheckAction
// as an admin), swaps in the rule's task state, records the instance
// action under a new request id and calls cast with a context carrying
// that request id. It returns the request id.
func (c *Cloud) Act(ctx context.Context, uuid string, act compute.Action, cast func(ctx context.Context, inst *compute.Instance) error) (string, error) {
	inst, err := c.Store.Instances().Get(ctx, uuid)
	if err != nil {
		return "", err
	}
	if err := compute.CheckAction(inst, act, compute.CheckOptions{IsAdmin: true}); err != nil {
		return "", err
	}
	rule, _ := compute.RuleFor(act)
	if inst, err = c.Store.Instances().Update(ctx, uuid, rule.Transition()); err != nil {
		return "", err
	}
	reqID := "req-" + newID()
	if _, err := c.Store.InstanceActions().Start(ctx, &compute.InstanceAction{
		Action: act.RecordName(), InstanceUUID: uuid, RequestID: reqID, UserID: inst.UserID, ProjectID: inst.ProjectID,
	}); err != nil {
		return "", err
	}
	ctx = queue.WithRequestContext(ctx, queue.RequestContext{RequestID: reqID, UserID: inst.UserID, ProjectID: inst.ProjectID, IsAdmin: true})
	return reqID, cast(ctx, inst)
}

func newID() string { return uuid.NewString() }

// Wait reads the instance (deleted ones included) until cond holds or
// ctx ends, and returns it as last read. It reads again at every
// instance write made through the harness conductor, and every 50 ms
// for writes made elsewhere.
func (c *Cloud) Wait(ctx context.Context, uuid string, cond func(*compute.Instance) bool) (*compute.Instance, error) {
	t := time.NewTimer(50 * time.Millisecond)
	defer t.Stop()
	for {
		changed := c.Conductor.Changed()
		inst, err := c.Store.Instances().GetWithDeleted(ctx, uuid)
		if err == nil && cond(inst) {
			return inst, nil
		}
		select {
		case <-ctx.Done():
			if inst != nil {
				return inst, fmt.Errorf("instance %s still %s/%s (deleted %v): %w", uuid, inst.VMState, inst.TaskState, inst.Deleted, ctx.Err())
			}
			return nil, errors.Join(err, ctx.Err())
		case <-changed:
		case <-t.C:
		}
		t.Reset(50 * time.Millisecond)
	}
}

// Settled is a Wait condition: no task runs and the instance is not
// building.
func Settled(inst *compute.Instance) bool {
	return inst.Deleted || (inst.TaskState == compute.TaskNone && inst.VMState != compute.VMBuilding)
}

// InState is a Wait condition: no task runs and the vm_state is vm.
func InState(vm compute.VMState) func(*compute.Instance) bool {
	return func(inst *compute.Instance) bool { return inst.TaskState == compute.TaskNone && inst.VMState == vm }
}

// Deleted is a Wait condition: the instance is soft-deleted.
func Deleted(inst *compute.Instance) bool { return inst.Deleted }

// DefaultImage is the image Boot uses unless told otherwise.
const DefaultImage = "agenttest-image"

// Images is an in-memory image service for snapshots and shelving.
type Images struct {
	mu     sync.Mutex
	meta   map[string]compute.ImageMeta
	data   map[string][]byte
	nextID int
}

// NewImages returns an image service holding [DefaultImage].
func NewImages() *Images {
	return &Images{
		meta: map[string]compute.ImageMeta{DefaultImage: {ID: DefaultImage, Name: "agenttest", DiskFormat: "raw", ContainerFormat: "bare"}},
		data: map[string][]byte{},
	}
}

// ImageMeta implements agent.Images.
func (im *Images) ImageMeta(_ context.Context, id string) (compute.ImageMeta, error) {
	im.mu.Lock()
	defer im.mu.Unlock()
	m, ok := im.meta[id]
	if !ok {
		return compute.ImageMeta{}, compute.NotFound("image", id)
	}
	return m, nil
}

// CreateImage records a queued image, as the API does before a snapshot.
func (im *Images) CreateImage(_ context.Context, meta compute.ImageMeta, _ string) (compute.ImageMeta, error) {
	im.mu.Lock()
	defer im.mu.Unlock()
	if meta.ID == "" {
		im.nextID++
		meta.ID = fmt.Sprintf("snap-%d", im.nextID)
	}
	im.meta[meta.ID] = meta
	return meta, nil
}

// Upload implements agent.Images.
func (im *Images) Upload(_ context.Context, id string, r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	im.mu.Lock()
	defer im.mu.Unlock()
	if _, ok := im.meta[id]; !ok {
		return compute.NotFound("image", id)
	}
	im.data[id] = b
	return nil
}

// Data returns an image's uploaded bytes and whether there are any.
func (im *Images) Data(id string) ([]byte, bool) {
	im.mu.Lock()
	defer im.mu.Unlock()
	b, ok := im.data[id]
	return b, ok
}

// DeleteImage implements agent.Images.
func (im *Images) DeleteImage(_ context.Context, id string) error {
	im.mu.Lock()
	defer im.mu.Unlock()
	if _, ok := im.meta[id]; !ok {
		return compute.NotFound("image", id)
	}
	delete(im.meta, id)
	delete(im.data, id)
	return nil
}
