package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/novakit/novakit/api"
	"github.com/novakit/novakit/api/openstack"
	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/compute/agent"
	"github.com/novakit/novakit/conductor"
	"github.com/novakit/novakit/drivers/fake"
	"github.com/novakit/novakit/identity/embedded"
	"github.com/novakit/novakit/image"
	imageapi "github.com/novakit/novakit/image/api"
	"github.com/novakit/novakit/internal/servicegroup"
	placementapi "github.com/novakit/novakit/placement/api"
	"github.com/novakit/novakit/queue"
	"github.com/novakit/novakit/scheduler"
	"github.com/novakit/novakit/scheduler/storesource"
	"github.com/novakit/novakit/store"
	"github.com/novakit/novakit/store/placementstore"
)

// Default ports, OpenStack's (ARCHITECTURE.md, daemon conventions).
const (
	portIdentity  = 5000
	portCompute   = 8774
	portPlacement = 8778
	portImage     = 9292
)

// config is what the flags set.
type config struct {
	Data        string // data directory: SQLite files, images, credentials, clouds.yaml
	Driver      string // fake (libvirt comes with drivers/libvirt wiring)
	Hosts       int    // simulated hosts of the fake driver
	PortOffset  int    // added to every default port
	Bind        string // address every service listens on
	DB          string // compute database URL (default sqlite://DATA/nova.db)
	PlacementDB string // placement database URL (default sqlite://DATA/placement.db)
	Queue       string // queue URL (default mem://)
	// ReportInterval is the agents' heartbeat and resource period.
	ReportInterval time.Duration
	Logger         *slog.Logger
}

// cloud is every service of the all-in-one cloud in one process.
type cloud struct {
	cfg    config
	log    *slog.Logger
	st     *store.Store
	pl     *placementstore.Service
	tr     *queue.Transport
	codes  *queue.ErrorCodes
	qc     *queue.Client
	sched  *scheduler.Scheduler
	cond   *conductor.Service
	agents []*agent.Agent
	images *image.Store
	issuer *embedded.Issuer

	servers                     []*http.Server
	urls                        map[string]string // service type → base URL
	cloudsYAML                  string
	adminPassword, demoPassword string

	bgCancel context.CancelFunc
	bg       sync.WaitGroup
	closers  []func(context.Context) error
}

func (c *config) defaults() {
	if c.Data == "" {
		c.Data = "novakit-data"
	}
	if c.Driver == "" {
		c.Driver = "fake"
	}
	if c.Hosts <= 0 {
		c.Hosts = 4
	}
	if c.Bind == "" {
		c.Bind = "127.0.0.1"
	}
	if c.Queue == "" {
		c.Queue = "mem://"
	}
	if c.DB == "" {
		c.DB = "sqlite://" + filepath.Join(c.Data, "nova.db")
	}
	if c.PlacementDB == "" {
		c.PlacementDB = "sqlite://" + filepath.Join(c.Data, "placement.db")
	}
	if c.ReportInterval <= 0 {
		c.ReportInterval = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// start brings every service up, in dependency order, and returns once
// all of them serve. On error, what was started is stopped again.
func start(ctx context.Context, cfg config) (_ *cloud, err error) {
	cfg.defaults()
	c := &cloud{cfg: cfg, log: cfg.Logger, urls: map[string]string{}}
	defer func() {
		if err != nil {
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = c.stop(sctx)
		}
	}()
	driver, uri, _ := strings.Cut(cfg.Driver, ":")
	switch driver {
	case "fake":
	case "libvirt":
		if !libvirtBuilt {
			_, _, _, err := openLibvirt(ctx, "", "", nil)
			return nil, err
		}
	default:
		return nil, fmt.Errorf("-driver %q: want fake or libvirt[:URI]", cfg.Driver)
	}
	if err := os.MkdirAll(cfg.Data, 0o750); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	if err := c.credentials(); err != nil {
		return nil, err
	}

	// Listeners first: a taken port fails the start before anything runs.
	lns := map[string]net.Listener{}
	for svc, port := range map[string]int{"identity": portIdentity, "compute": portCompute, "placement": portPlacement, "image": portImage} {
		addr := net.JoinHostPort(cfg.Bind, strconv.Itoa(port+cfg.PortOffset))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return nil, fmt.Errorf("%s: %w", svc, err)
		}
		lns[svc] = ln
		c.urls[svc] = "http://" + ln.Addr().String()
	}
	c.urls["compute"] += "/v2.1"
	c.urls["identity"] += "/v3"

	// Databases.
	if c.st, err = store.Open(ctx, cfg.DB, nil); err != nil {
		return nil, err
	}
	c.closers = append(c.closers, func(context.Context) error { return c.st.Close() })
	if c.pl, err = placementstore.Open(ctx, cfg.PlacementDB, &placementstore.Options{Logger: c.log}); err != nil {
		return nil, fmt.Errorf("placement: %w", err)
	}
	c.closers = append(c.closers, func(context.Context) error { return c.pl.Close() })

	// Queue and the error codes every RPC side shares.
	if c.tr, err = queue.Open(ctx, cfg.Queue); err != nil {
		return nil, err
	}
	c.closers = append(c.closers, func(context.Context) error { return c.tr.Close() })
	c.codes = conductor.ErrorCodes()
	for _, reg := range []func(*queue.ErrorCodes) error{scheduler.RegisterErrors, agent.RegisterErrors} {
		if err := reg(c.codes); err != nil {
			return nil, err
		}
	}
	if c.qc, err = c.tr.NewClient(queue.ClientConfig{Errors: c.codes, Logger: c.log}); err != nil {
		return nil, err
	}
	c.closers = append(c.closers, func(context.Context) error { return c.qc.Close() })

	// Identity, with the catalog of this cloud.
	icfg := embedded.AllInOne(c.adminPassword, c.demoPassword)
	icfg.AddService("identity", "keystone", "", c.urls["identity"])
	icfg.AddService("compute", "nova", "", c.urls["compute"])
	icfg.AddService("placement", "placement", "", c.urls["placement"])
	icfg.AddService("image", "glance", "", c.urls["image"])
	key, err := c.tokenKey()
	if err != nil {
		return nil, err
	}
	icfg.Keys = []string{key}
	if c.issuer, err = embedded.New(icfg); err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}

	if err := seedFlavors(ctx, c.st); err != nil {
		return nil, err
	}

	// Images.
	if c.images, err = image.Open(filepath.Join(cfg.Data, "images"), image.Options{}); err != nil {
		return nil, fmt.Errorf("images: %w", err)
	}
	if _, err := image.Seed(ctx, c.images, embedded.StableID("project", "admin")); err != nil {
		return nil, fmt.Errorf("images: seed: %w", err)
	}

	bgctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	c.bgCancel = cancel

	// Scheduler, conductor, agents.
	if c.sched, err = scheduler.New(scheduler.Config{Placement: c.pl, Hosts: storesource.New(c.st), Logger: c.log}); err != nil {
		return nil, err
	}
	c.bg.Add(1)
	go func() { defer c.bg.Done(); _ = c.sched.Run(bgctx) }()
	ssrv, err := c.tr.NewServer(queue.ServerConfig{Topic: scheduler.Topic, Server: "allinone", Version: scheduler.RPCVersion, Errors: c.codes, Logger: c.log})
	if err != nil {
		return nil, err
	}
	if err := scheduler.RegisterServer(ssrv, c.sched); err != nil {
		return nil, err
	}
	if err := ssrv.Start(ctx); err != nil {
		return nil, err
	}
	c.closers = append(c.closers, ssrv.Stop)

	agents := agent.NewClient(c.qc)
	// One process: whatever a previous run left in flight is abandoned (StuckAfter < 0).
	c.cond = conductor.New(c.st, c.sched, c.pl, agents, conductor.Config{Host: "allinone", Logger: c.log, StuckAfter: -1})
	if _, err := c.cond.Recover(ctx); err != nil {
		return nil, fmt.Errorf("conductor: recover: %w", err)
	}
	csrv, err := conductor.Serve(ctx, c.tr, "allinone", c.cond, c.codes)
	if err != nil {
		return nil, err
	}
	c.closers = append(c.closers, csrv.Stop)

	type hostDriver struct {
		name string
		drv  compute.Hypervisor
	}
	var hosts []hostDriver
	if driver == "libvirt" {
		name, drv, closeDrv, err := openLibvirt(ctx, uri, cfg.Data, c.images)
		if err != nil {
			return nil, fmt.Errorf("libvirt: %w", err)
		}
		c.closers = append(c.closers, func(context.Context) error { return closeDrv() })
		hosts = append(hosts, hostDriver{name, drv})
	} else {
		fc, err := fake.New(fake.Config{Hosts: cfg.Hosts})
		if err != nil {
			return nil, err
		}
		for _, h := range fc.Hosts() {
			hosts = append(hosts, hostDriver{h.Name(), h})
		}
	}
	for _, h := range hosts {
		a, err := agent.New(agent.Options{
			Host: h.name, Driver: h.drv, Conductor: c.cond, Placement: c.pl, Images: c.images,
			Transport: c.tr, Errors: c.codes, Logger: c.log,
			ReportInterval: cfg.ReportInterval, ResourceInterval: 6 * cfg.ReportInterval,
		})
		if err != nil {
			return nil, err
		}
		if err := a.Start(bgctx); err != nil {
			return nil, fmt.Errorf("agent %s: %w", h.name, err)
		}
		c.agents = append(c.agents, a)
	}
	// The conductor and scheduler show in the service list, as Nova's do.
	for binary, topic := range map[string]string{"nova-conductor": conductor.Topic, "nova-scheduler": scheduler.Topic} {
		if _, err := servicegroup.Register(ctx, c.st, "allinone", binary, topic); err != nil {
			return nil, err
		}
		c.bg.Add(1)
		go func() {
			defer c.bg.Done()
			_ = servicegroup.Run(bgctx, c.st, "allinone", binary, topic, cfg.ReportInterval, c.log)
		}()
	}
	if err := c.sched.Refresh(ctx); err != nil {
		return nil, err
	}

	// HTTP front ends.
	capi, err := api.New(api.Options{
		Store: c.st, Conductor: conductor.NewClient(c.qc), Agent: agents, Images: c.images, Placement: c.pl, Logger: c.log,
	})
	if err != nil {
		return nil, err
	}
	compH, err := openstack.New(openstack.Options{API: capi, Authenticator: c.issuer, AuthURI: c.urls["identity"], Logger: c.log})
	if err != nil {
		return nil, err
	}
	imgH, err := imageapi.New(c.images, imageapi.Options{Authenticator: c.issuer, AuthURI: c.urls["identity"]})
	if err != nil {
		return nil, err
	}
	plH := placementapi.New(c.pl, placementapi.Options{Authenticator: c.issuer, Logger: c.log})

	for svc, h := range map[string]http.Handler{"identity": c.issuer, "compute": compH, "image": imgH, "placement": plH} {
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
		c.servers = append(c.servers, srv)
		ln := lns[svc]
		delete(lns, svc)
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				c.log.Error("http server failed", "service", svc, "err", err)
			}
		}()
		c.log.Info(svc+" listening on "+ln.Addr().String(), "service", svc, "url", c.urls[svc])
	}

	if c.cloudsYAML, err = c.writeCloudsYAML(); err != nil {
		return nil, err
	}
	return c, nil
}

// stop drains the HTTP servers, stops the agents and services and closes
// the databases and the queue, in reverse order of start.
func (c *cloud) stop(ctx context.Context) error {
	var errs []error
	for _, s := range c.servers {
		errs = append(errs, s.Shutdown(ctx))
	}
	if c.bgCancel != nil {
		c.bgCancel()
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, a := range c.agents {
		wg.Go(func() {
			err := a.Wait()
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		})
	}
	wg.Wait()
	c.bg.Wait()
	for i := len(c.closers) - 1; i >= 0; i-- {
		errs = append(errs, c.closers[i](ctx))
	}
	return errors.Join(errs...)
}

// credentials loads the generated admin and demo passwords, or makes and
// saves them (mode 0600) on the first start.
func (c *cloud) credentials() error {
	p := filepath.Join(c.cfg.Data, "passwords")
	if b, err := os.ReadFile(p); err == nil {
		var a, d string
		if _, err := fmt.Sscanf(string(b), "admin %s\ndemo %s\n", &a, &d); err == nil && a != "" && d != "" {
			c.adminPassword, c.demoPassword = a, d
			return nil
		}
		return fmt.Errorf("%s: unreadable; delete it to make new passwords", p)
	}
	c.adminPassword, c.demoPassword = randomHex(12), randomHex(12)
	return writeFileAtomic(p, []byte("admin "+c.adminPassword+"\ndemo "+c.demoPassword+"\n"), 0o600)
}

// tokenKey loads or makes the identity token key, so tokens survive a
// restart.
func (c *cloud) tokenKey() (string, error) {
	p := filepath.Join(c.cfg.Data, "token.key")
	if b, err := os.ReadFile(p); err == nil && len(b) > 0 {
		return string(b), nil
	}
	k := embedded.NewKey()
	return k, writeFileAtomic(p, []byte(k), 0o600)
}

func (c *cloud) writeCloudsYAML() (string, error) {
	p, err := filepath.Abs(filepath.Join(c.cfg.Data, "clouds.yaml"))
	if err != nil {
		return "", err
	}
	entry := func(name, user, pass, project string) string {
		return fmt.Sprintf(`  %s:
    auth:
      auth_url: %s
      username: %s
      password: %s
      project_name: %s
      user_domain_name: Default
      project_domain_name: Default
    region_name: RegionOne
    interface: public
    identity_api_version: 3
`, name, c.urls["identity"], user, pass, project)
	}
	body := "# written by examples/allinone; use with: export OS_CLIENT_CONFIG_FILE=" + p + "\nclouds:\n" +
		entry("novakit", "admin", c.adminPassword, "admin") +
		entry("novakit-demo", "demo", c.demoPassword, "demo")
	return p, writeFileAtomic(p, []byte(body), 0o600)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func writeFileAtomic(path string, b []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

var _ compute.Hypervisor = (*fake.Host)(nil)

// seedFlavors creates devstack's default public flavors on a fresh
// database (ids as devstack gives them); an existing flavor is left alone.
func seedFlavors(ctx context.Context, st *store.Store) error {
	for _, f := range []compute.Flavor{
		{FlavorID: "42", Name: "m1.nano", VCPUs: 1, MemoryMB: 128, RootGB: 1},
		{FlavorID: "84", Name: "m1.micro", VCPUs: 1, MemoryMB: 192, RootGB: 1},
		{FlavorID: "1", Name: "m1.tiny", VCPUs: 1, MemoryMB: 512, RootGB: 1},
		{FlavorID: "2", Name: "m1.small", VCPUs: 1, MemoryMB: 2048, RootGB: 20},
		{FlavorID: "3", Name: "m1.medium", VCPUs: 2, MemoryMB: 4096, RootGB: 40},
		{FlavorID: "4", Name: "m1.large", VCPUs: 4, MemoryMB: 8192, RootGB: 80},
		{FlavorID: "5", Name: "m1.xlarge", VCPUs: 8, MemoryMB: 16384, RootGB: 160},
	} {
		f.IsPublic, f.RXTXFactor = true, 1
		if _, err := st.Flavors().Create(ctx, &f); err != nil && !errors.Is(err, compute.ErrConflict) {
			return fmt.Errorf("flavor %s: %w", f.Name, err)
		}
	}
	return nil
}
