package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/placement"
	"github.com/novakit/novakit/queue"
)

// Placement is the part of placement the agent uses: its resource
// tracker keeps the node's root resource provider (inventories and
// traits), and the agent releases and moves allocations when builds
// fail, instances are deleted or offloaded, and moves are confirmed or
// reverted. *placement.Index, store/placementstore.Service and
// placement/client.Client implement it.
type Placement interface {
	CreateProvider(ctx context.Context, spec placement.ProviderSpec) (placement.ResourceProvider, error)
	Provider(ctx context.Context, uuid string) (placement.ResourceProvider, error)
	Inventories(ctx context.Context, uuid string) (map[string]placement.Inventory, int64, error)
	SetInventories(ctx context.Context, uuid string, generation int64, invs map[string]placement.Inventory) (int64, []string, error)
	Traits(ctx context.Context, uuid string) ([]string, int64, error)
	SetTraits(ctx context.Context, uuid string, generation int64, traits []string) (int64, error)
	Consumer(ctx context.Context, consumer string) (placement.Consumer, error)
	SetAllocations(ctx context.Context, allocs map[string]placement.ConsumerAllocations) error
	DeleteAllocations(ctx context.Context, consumer string) error
}

// Images is the part of the image service the agent uses for snapshots
// and shelving: image.Store and image/glance.Client implement it. The
// API creates the image records; the agent reads metadata, uploads the
// data and deletes shelved images after an unshelve.
type Images interface {
	ImageMeta(ctx context.Context, id string) (compute.ImageMeta, error)
	Upload(ctx context.Context, id string, data io.Reader) error
	DeleteImage(ctx context.Context, id string) error
}

// Nova's defaults for the agent's knobs.
const (
	DefaultReservedHostMemoryMB = 512
	DefaultCPUAllocationRatio   = 4.0 // initial_cpu_allocation_ratio
	DefaultRAMAllocationRatio   = 1.0 // initial_ram_allocation_ratio
	DefaultDiskAllocationRatio  = 1.0 // initial_disk_allocation_ratio
	DefaultMaxConcurrentBuilds  = 10
	DefaultPowerSyncInterval    = 600 * time.Second
	DefaultResourceInterval     = 60 * time.Second
	DefaultShutdownTimeout      = 60 * time.Second
	DefaultShelvedPollInterval  = 3600 * time.Second
)

// Options configures an [Agent]. Host, Driver, Conductor, Placement and
// Transport are required; zero values of the rest take Nova's defaults.
type Options struct {
	// Host is the compute host's name: its service's host, its instances'
	// Host, and the server of its RPC queue "compute.<Host>".
	Host string
	// Driver is the hypervisor of this host.
	Driver compute.Hypervisor
	// Conductor is how the agent reads and writes records.
	Conductor Conductor
	// Placement receives the node's inventories and traits.
	Placement Placement
	// Images is the image service for snapshots, shelve and unshelve;
	// nil refuses snapshots and image-backed shelves with
	// compute.ErrUnsupported.
	Images Images
	// Transport carries the agent's RPC server and the casts it sends to
	// other agents during moves.
	Transport *queue.Transport
	// Errors maps errors to wire codes; nil builds one with
	// [RegisterErrors].
	Errors *queue.ErrorCodes

	// ReportInterval is the heartbeat period (Nova's report_interval,
	// 10 s); ServiceDownTime how long without one makes the service down
	// (60 s; informational: the agent reports it in logs).
	ReportInterval  time.Duration
	ServiceDownTime time.Duration
	// ResourceInterval is the resource tracker's period
	// (update_resources_interval, 60 s).
	ResourceInterval time.Duration
	// PowerSyncInterval is the power-state sync's period
	// (sync_power_state_interval, 600 s); negative disables it.
	PowerSyncInterval time.Duration
	// ShutdownTimeout is how long a clean shutdown may take before the
	// guest is forced off (shutdown_timeout, 60 s).
	ShutdownTimeout time.Duration
	// ShelvedOffloadTime: 0 offloads a shelved instance at once (Nova's
	// default), negative never, positive once it has been shelved that
	// long (checked every ShelvedPollInterval, 3600 s).
	ShelvedOffloadTime  time.Duration
	ShelvedPollInterval time.Duration

	// ReservedHostMemoryMB is kept from guests (512 by default; -1 for
	// none); ReservedHostCPUs and ReservedHostDiskMB likewise (0).
	ReservedHostMemoryMB int
	ReservedHostCPUs     int
	ReservedHostDiskMB   int
	// CPUAllocationRatio, RAMAllocationRatio and DiskAllocationRatio, when
	// positive, are forced onto the provider at every update. When zero,
	// a new provider gets the Initial* ratios (4.0, 1.0, 1.0) and an
	// existing one keeps what placement has, as in Nova since Stein.
	CPUAllocationRatio         float64
	RAMAllocationRatio         float64
	DiskAllocationRatio        float64
	InitialCPUAllocationRatio  float64
	InitialRAMAllocationRatio  float64
	InitialDiskAllocationRatio float64

	// MaxConcurrentBuilds bounds the builds running at once (10).
	MaxConcurrentBuilds int
	// RPCConcurrency bounds the RPC handlers running at once (64).
	RPCConcurrency int

	// Logger; nil discards.
	Logger *slog.Logger
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

func (o *Options) setDefaults() {
	if o.ReportInterval <= 0 {
		o.ReportInterval = compute.DefaultReportInterval
	}
	if o.ServiceDownTime <= 0 {
		o.ServiceDownTime = compute.DefaultServiceDownTime
	}
	if o.ResourceInterval <= 0 {
		o.ResourceInterval = DefaultResourceInterval
	}
	if o.PowerSyncInterval == 0 {
		o.PowerSyncInterval = DefaultPowerSyncInterval
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = DefaultShutdownTimeout
	}
	if o.ShelvedPollInterval <= 0 {
		o.ShelvedPollInterval = DefaultShelvedPollInterval
	}
	switch {
	case o.ReservedHostMemoryMB == 0:
		o.ReservedHostMemoryMB = DefaultReservedHostMemoryMB
	case o.ReservedHostMemoryMB < 0:
		o.ReservedHostMemoryMB = 0
	}
	if o.InitialCPUAllocationRatio <= 0 {
		o.InitialCPUAllocationRatio = DefaultCPUAllocationRatio
	}
	if o.InitialRAMAllocationRatio <= 0 {
		o.InitialRAMAllocationRatio = DefaultRAMAllocationRatio
	}
	if o.InitialDiskAllocationRatio <= 0 {
		o.InitialDiskAllocationRatio = DefaultDiskAllocationRatio
	}
	if o.MaxConcurrentBuilds <= 0 {
		o.MaxConcurrentBuilds = DefaultMaxConcurrentBuilds
	}
	if o.RPCConcurrency <= 0 {
		o.RPCConcurrency = 64
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Validate reports whether the options are usable, naming the first
// missing or bad field.
func (o *Options) Validate() error {
	switch {
	case o.Host == "":
		return compute.InvalidInput("Host", "is required")
	case o.Driver == nil:
		return compute.InvalidInput("Driver", "is required")
	case o.Conductor == nil:
		return compute.InvalidInput("Conductor", "is required")
	case o.Placement == nil:
		return compute.InvalidInput("Placement", "is required")
	case o.Transport == nil:
		return compute.InvalidInput("Transport", "is required")
	case o.ReservedHostCPUs < 0:
		return compute.InvalidInput("ReservedHostCPUs", "must not be negative")
	case o.ReservedHostDiskMB < 0:
		return compute.InvalidInput("ReservedHostDiskMB", "must not be negative")
	case o.CPUAllocationRatio < 0 || o.RAMAllocationRatio < 0 || o.DiskAllocationRatio < 0:
		return compute.InvalidInput("AllocationRatio", "must not be negative")
	}
	if err := (queue.Target{Topic: Topic, Server: o.Host}).Validate(); err != nil {
		return compute.InvalidInput("Host", "%v", err)
	}
	return o.Driver.Capabilities().Check(o.Driver)
}

// Agent is the compute service of one host (Nova's nova-compute). Build
// one with [New] and run it with [Agent.Run]; one Agent runs at a time
// per host. Its exported methods are safe for concurrent use.
//
// Every instance operation runs under the instance's lock (Nova's
// per-instance synchronized), records an instance action event
// "compute_<method>" under the request id of the message that asked for
// it, expects the task state the API set (from compute.RuleFor), and on
// failure records an instance fault and either reverts the task state or
// puts the instance in ERROR, as Nova's compute manager does.
type Agent struct {
	o      Options
	log    *slog.Logger
	caps   compute.Capabilities
	client *Client
	qc     *queue.Client

	locks  keyedMutex
	builds chan struct{}

	mu          sync.Mutex
	service     *compute.Service
	node        *compute.ComputeNode
	failedBuild int
	runCtx      context.Context
	run         *running

	trackerMu sync.Mutex // Nova's compute_resources semaphore
}

// New checks the options and returns an Agent that is not running yet.
func New(o Options) (*Agent, error) {
	o.setDefaults()
	if err := o.Validate(); err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	if o.Errors == nil {
		o.Errors = queue.NewErrorCodes()
		if err := RegisterErrors(o.Errors); err != nil {
			return nil, err
		}
	}
	return &Agent{
		o:      o,
		log:    o.Logger.With("host", o.Host),
		caps:   o.Driver.Capabilities(),
		builds: make(chan struct{}, o.MaxConcurrentBuilds),
	}, nil
}

// Host returns the host the agent serves.
func (a *Agent) Host() string { return a.o.Host }

// Service returns the agent's service record as last registered or
// heartbeated, nil before Run has registered it.
func (a *Agent) Service() *compute.Service {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.service == nil {
		return nil
	}
	s := *a.service
	return &s
}

// Node returns the compute node record as the resource tracker last
// stored it, nil before the first update.
func (a *Agent) Node() *compute.ComputeNode {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.node == nil {
		return nil
	}
	n := *a.node
	return &n
}

// Run runs the agent until ctx ends: it registers the service, updates
// the node (conductor and placement), cleans up what a previous run left
// half-done (init_host), starts serving "compute.<host>", and then
// heartbeats, tracks resources and syncs power states periodically.
// When ctx ends it stops taking messages, cancels the operations in
// flight (what they leave half-done is cleaned up by the next Run) and
// returns nil. It returns an error when start-up fails. Run may be
// called once per Agent.
func (a *Agent) Run(ctx context.Context) error {
	if err := a.Start(ctx); err != nil {
		return err
	}
	return a.Wait()
}

// running is what Start starts and stop stops.
type running struct {
	srv  *queue.Server
	wg   sync.WaitGroup
	stop context.CancelFunc
}

// Start does Run's start-up and returns once the agent serves its queue;
// the periodic tasks run in the background until ctx ends. [Agent.Wait]
// waits for them. Run is Start plus waiting for ctx.
func (a *Agent) Start(ctx context.Context) error {
	a.mu.Lock()
	if a.runCtx != nil {
		a.mu.Unlock()
		return errors.New("agent: already started")
	}
	a.runCtx = ctx
	a.mu.Unlock()

	qc, err := a.o.Transport.NewClient(queue.ClientConfig{Errors: a.o.Errors, Logger: a.o.Logger})
	if err != nil {
		return fmt.Errorf("agent: queue client: %w", err)
	}
	a.qc, a.client = qc, NewClient(qc)
	// Like Nova's "Waiting for conductor", keep trying while the
	// conductor cannot be reached; a refused registration is final.
	for delay := 100 * time.Millisecond; ; delay = min(2*delay, 10*time.Second) {
		err := a.registerService(ctx)
		if err == nil {
			break
		}
		if errors.Is(err, compute.ErrInvalidInput) || ctx.Err() != nil {
			qc.Close()
			return err
		}
		a.log.Warn("agent: waiting for the conductor", "err", err, "retry_in", delay)
		select {
		case <-ctx.Done():
			qc.Close()
			return err
		case <-time.After(delay):
		}
	}
	if err := a.updateResources(ctx); err != nil {
		// As in Nova, the service runs on; the next periodic update
		// tries again.
		a.log.Error("agent: resource update at start failed", "err", err)
	}
	a.initHost(ctx)

	srv, err := a.o.Transport.NewServer(queue.ServerConfig{
		Topic: Topic, Server: a.o.Host, Version: RPCVersion,
		MaxConcurrency: a.o.RPCConcurrency, Errors: a.o.Errors, Logger: a.o.Logger,
	})
	if err != nil {
		qc.Close()
		return fmt.Errorf("agent: queue server: %w", err)
	}
	if err := a.register(srv); err != nil {
		qc.Close()
		return err
	}
	if err := srv.Start(ctx); err != nil {
		qc.Close()
		return fmt.Errorf("agent: serve %s.%s: %w", Topic, a.o.Host, err)
	}
	r := &running{srv: srv}
	a.mu.Lock()
	a.run = r
	a.mu.Unlock()
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		a.loop(ctx, a.o.ReportInterval, func(ctx context.Context) { a.heartbeat(ctx) })
	}()
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		a.loop(ctx, a.o.ResourceInterval, func(ctx context.Context) {
			if err := a.updateResources(ctx); err != nil && ctx.Err() == nil {
				a.log.Warn("agent: resource update failed", "err", err)
			}
			a.ReapOrphanedBuilds(ctx)
		})
	}()
	if es, ok := a.o.Driver.(compute.EventSource); ok && a.caps.Events {
		if ch, err := es.Events(ctx); err != nil {
			a.log.Warn("agent: subscribe to lifecycle events", "err", err)
		} else {
			r.wg.Add(1)
			go func() {
				defer r.wg.Done()
				a.lifecycle(ctx, ch)
			}()
		}
	}
	if a.o.ShelvedOffloadTime > 0 {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			a.loop(ctx, a.o.ShelvedPollInterval, a.PollShelved)
		}()
	}
	if a.o.PowerSyncInterval > 0 {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			a.SyncPowerStates(ctx) // runs immediately, as in Nova
			a.loop(ctx, a.o.PowerSyncInterval, a.SyncPowerStates)
		}()
	}
	return nil
}

// stop stops serving and waits for the periodic tasks and the handlers
// in flight (cancelled by the end of the run's ctx). Idempotent.
func (a *Agent) stop() error {
	a.mu.Lock()
	r := a.run
	a.run = nil
	a.mu.Unlock()
	if r == nil {
		return nil
	}
	sctx, cancel := context.WithTimeout(context.Background(), a.o.ShutdownTimeout)
	defer cancel()
	err := r.srv.Stop(sctx)
	r.wg.Wait()
	a.qc.Close()
	return err
}

// Wait blocks until the ctx given to Start ends, then stops the agent
// and waits for what runs; it is what Run does after Start. It returns
// at once if the agent was never started.
func (a *Agent) Wait() error {
	a.mu.Lock()
	ctx := a.runCtx
	a.mu.Unlock()
	if ctx == nil {
		return nil
	}
	<-ctx.Done()
	return a.stop()
}

// lifecycle syncs the power state of a guest as soon as the driver
// reports a change (Nova's handle_lifecycle_event); the periodic sync
// remains the backstop for lost events. Changes the agent causes itself
// are seen after the operation (which holds the instance's lock), when
// the record already agrees.
func (a *Agent) lifecycle(ctx context.Context, ch <-chan compute.LifecycleEvent) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-ch:
			if !ok {
				return
			}
			if err := a.syncPowerState(ctx, ev.UUID); err != nil && ctx.Err() == nil {
				a.log.Debug("agent: lifecycle event sync", "instance", ev.UUID, "err", err)
			}
		}
	}
}

func (a *Agent) loop(ctx context.Context, every time.Duration, fn func(context.Context)) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn(ctx)
		}
	}
}

// opCtx ties a handler's context (the queue server's, which a graceful
// stop does not cancel) to the agent's run: when Run's ctx ends, the
// operations in flight are cancelled too.
func (a *Agent) opCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	a.mu.Lock()
	rc := a.runCtx
	a.mu.Unlock()
	ctx, cancel := context.WithCancel(ctx)
	if rc != nil {
		stop := context.AfterFunc(rc, cancel)
		return ctx, func() { stop(); cancel() }
	}
	return ctx, cancel
}

func (a *Agent) registerService(ctx context.Context) error {
	svc, err := a.o.Conductor.GetService(ctx, a.o.Host, Binary)
	if errors.Is(err, compute.ErrNotFound) {
		svc, err = a.o.Conductor.CreateService(ctx, &compute.Service{
			Host: a.o.Host, Binary: Binary, Topic: Topic, LastSeenUp: a.o.Now(),
		})
		if errors.Is(err, compute.ErrConflict) { // another start won the race
			svc, err = a.o.Conductor.GetService(ctx, a.o.Host, Binary)
		}
	}
	if err != nil {
		return fmt.Errorf("agent: register service %s/%s: %w", a.o.Host, Binary, err)
	}
	if hb, err := a.o.Conductor.ServiceHeartbeat(ctx, svc.UUID); err == nil {
		svc = hb
	}
	a.mu.Lock()
	a.service = svc
	a.mu.Unlock()
	return nil
}

// heartbeat reports the service alive (Nova's servicegroup db driver).
func (a *Agent) heartbeat(ctx context.Context) {
	a.mu.Lock()
	svc := a.service
	a.mu.Unlock()
	if svc == nil {
		return
	}
	s, err := a.o.Conductor.ServiceHeartbeat(ctx, svc.UUID)
	if errors.Is(err, compute.ErrNotFound) {
		// The service record was deleted (an operator removed the
		// service): register again, as Nova does on its next start.
		err = a.registerService(ctx)
		if err == nil {
			return
		}
	}
	if err != nil {
		if ctx.Err() == nil {
			a.log.Warn("agent: heartbeat failed", "err", err)
		}
		return
	}
	a.mu.Lock()
	toggled := a.service != nil && a.service.Disabled != s.Disabled
	a.service = s
	a.mu.Unlock()
	if toggled {
		// Enabled or disabled by an operator: the COMPUTE_STATUS_DISABLED
		// trait follows now rather than at the next periodic update.
		if err := a.updateResources(ctx); err != nil && ctx.Err() == nil {
			a.log.Warn("agent: resource update after a service status change", "err", err)
		}
	}
}

// keyedMutex is a set of mutexes by key (instance uuid), created on
// demand and dropped when unused.
type keyedMutex struct {
	mu sync.Mutex
	m  map[string]*keyedEntry
}

type keyedEntry struct {
	ch   chan struct{}
	refs int
}

// lock takes the key's lock, or returns ctx's error if ctx ends first.
func (k *keyedMutex) lock(ctx context.Context, key string) (unlock func(), err error) {
	k.mu.Lock()
	if k.m == nil {
		k.m = map[string]*keyedEntry{}
	}
	e := k.m[key]
	if e == nil {
		e = &keyedEntry{ch: make(chan struct{}, 1)}
		k.m[key] = e
	}
	e.refs++
	k.mu.Unlock()
	release := func() {
		k.mu.Lock()
		e.refs--
		if e.refs == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
	select {
	case e.ch <- struct{}{}:
		return func() { <-e.ch; release() }, nil
	case <-ctx.Done():
		release()
		return nil, ctx.Err()
	}
}
