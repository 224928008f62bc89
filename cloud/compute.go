package cloud

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/compute/agent"
	"github.com/novakit/novakit/conductor"
	"github.com/novakit/novakit/drivers/fake"
	"github.com/novakit/novakit/image/glance"
)

// ComputeConfig configures RunCompute (nova-compute): the agent of one
// host.
type ComputeConfig struct {
	Common
	// Host is the compute host's name (its service, its instances' host,
	// its queue compute.<Host>); default the machine's host name. One
	// agent runs per host.
	Host string
	// Driver is the hypervisor. When nil, DriverURL opens one:
	// fake://?vcpus=8&memory_mb=16384&disk_gb=100 is a simulated host
	// named Host (drivers/fake).
	Driver    compute.Hypervisor
	DriverURL string
	// Queue is the message queue URL. Required: the agent reaches the
	// database only through the conductors.
	Queue string
	// Placement is placement's URL (see OpenPlacement); PlacementToken
	// the token sent to an http(s) one. Required.
	Placement, PlacementToken string
	// Glance, when set, is the image service's URL (snapshots, shelve).
	Glance string
	// Agent tunes the agent (intervals, reserved resources, allocation
	// ratios, concurrency …); Host, Driver, Conductor, Placement, Images,
	// Transport, Errors and Logger are set from this config.
	Agent agent.Options
}

// openDriver opens a driver by URL for host.
func openDriver(ctx context.Context, rawURL, host string) (compute.Hypervisor, error) {
	if rawURL == "" {
		return nil, errors.New("compute: no driver (set Driver, or DriverURL fake://…)")
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("driver %q: %w", rawURL, err)
	}
	if u.Scheme != fake.Scheme {
		return nil, fmt.Errorf("driver %q: this build knows fake:// only", rawURL)
	}
	q := u.Query()
	for _, k := range []string{"hosts", "prefix"} {
		if q.Has(k) {
			return nil, fmt.Errorf("driver %q: %s is not for one host (the host is named by -host)", rawURL, k)
		}
	}
	// Open validates the parameters; the host itself is added by name.
	c, err := fake.Open(ctx, rawURL)
	if err != nil {
		return nil, fmt.Errorf("driver %q: %s", rawURL, oneLine(err))
	}
	var capa fake.Capacity
	capa.VCPUs, _ = strconv.Atoi(q.Get("vcpus"))
	capa.MemoryMB, _ = strconv.Atoi(q.Get("memory_mb"))
	capa.DiskGB, _ = strconv.Atoi(q.Get("disk_gb"))
	h, err := c.AddHost(host, capa)
	if err != nil {
		return nil, fmt.Errorf("driver %q: host %q: %s", rawURL, host, oneLine(err))
	}
	return h, nil
}

// RunCompute runs the compute agent of cfg.Host until ctx ends, then stops
// taking messages and cancels what is in flight (the next start's
// init_host finishes it) and returns nil. Its HTTP listener (default
// DefaultComputeListen) serves /healthz, /metrics and GET /guests (the
// driver's guests, JSON: [{"uuid":…}], for operators and tests). It
// blocks.
func RunCompute(ctx context.Context, cfg ComputeConfig) error {
	cfg.defaults(DefaultComputeListen)
	cfg.Host = hostname(cfg.Host)
	log := cfg.Logger.With(slog.String("host", cfg.Host))
	ln, err := listen(ctx, cfg.Common)
	if err != nil {
		return errors.New("compute: " + err.Error())
	}
	defer ln.Close()
	drv := cfg.Driver
	if drv == nil {
		if drv, err = openDriver(ctx, cfg.DriverURL, cfg.Host); err != nil {
			return err
		}
	}
	pl, closePl, err := OpenPlacement(ctx, cfg.Placement, cfg.PlacementToken, log)
	if err != nil {
		return err
	}
	defer closePl()
	r, err := openRPC(ctx, cfg.Queue, cfg.Transport, log)
	if err != nil {
		return err
	}
	defer r.close()
	o := cfg.Agent
	o.Host, o.Driver, o.Conductor, o.Placement = cfg.Host, drv, conductor.NewClient(r.qc), pl
	o.Transport, o.Errors, o.Logger = r.tr, r.codes, log
	if cfg.Glance != "" {
		g, err := glance.New(glance.Options{Endpoint: cfg.Glance})
		if err != nil {
			return fmt.Errorf("glance %s: %w", cfg.Glance, err)
		}
		o.Images = g
	}
	a, err := agent.New(o)
	if err != nil {
		return errors.New("compute: " + oneLine(err))
	}
	// The agent stops when ctx ends, also while it starts (its first
	// calls wait for a conductor).
	actx, stopAgent := context.WithCancel(ctx)
	defer stopAgent()
	if err := a.Start(actx); err != nil {
		if ctx.Err() != nil {
			return nil // stopped while starting
		}
		return errors.New("compute: " + oneLine(err))
	}
	reg := newRegistry()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /guests", func(w http.ResponseWriter, req *http.Request) {
		gs, err := drv.ListGuests(req.Context())
		if err != nil {
			http.Error(w, oneLine(err), http.StatusServiceUnavailable)
			return
		}
		out := make([]map[string]string, 0, len(gs))
		for _, g := range gs {
			out = append(out, map[string]string{"uuid": g.UUID})
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	})
	health := func(hctx context.Context) error {
		_, err := drv.HostResources(hctx)
		return err
	}
	hs := startHTTP(ctx, cfg.Common, ln, "compute agent", mux, health, reg)
	werr := hs.wait(ctx)
	log.Info("compute agent stopping")
	stopAgent()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.DrainTimeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- a.Wait() }()
	var aerr error
	select {
	case aerr = <-done:
		if errors.Is(aerr, context.Canceled) {
			aerr = nil
		}
	case <-time.After(cfg.DrainTimeout):
		aerr = errors.New("compute: agent did not stop within the drain timeout")
	}
	return errors.Join(werr, aerr, hs.shutdown(sctx))
}
