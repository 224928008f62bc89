package scheduler

import (
	"errors"
	"fmt"
	"sort"
	"sync"
)

// Filter decides whether a host can take the instance being placed (Nova's
// BaseHostFilter.host_passes). HostPasses is called for many hosts and
// many requests at once: it must be safe for concurrent use, must not
// modify h or r, must not block, and should not allocate.
type Filter interface {
	HostPasses(h *HostState, r *Request) bool
}

// FilterApplier is an optional interface of a Filter: when Applies returns
// false the filter is skipped for the whole request (every host would pass),
// which keeps the hot path short.
type FilterApplier interface {
	Applies(r *Request) bool
}

// OncePerRequest is an optional interface of a Filter: filters whose answer
// cannot change between the instances of one multi-create (they look only
// at static host properties) run for the first instance only, as Nova's
// run_filter_once_per_request.
type OncePerRequest interface {
	RunOncePerRequest() bool
}

// Weigher scores hosts (Nova's BaseHostWeigher). Weigh returns the raw
// value; the scheduler normalises raw values over the hosts of a request
// to 0..1 (min-max, see [MinValZero]) and adds Multiplier(h) times the
// normalised value to the host's weight. Multiplier is per host so that
// aggregate metadata can override the configured value (see
// [HostState.WeightMultiplier]). Both are called concurrently for many
// hosts and must not modify h or r, block or allocate.
type Weigher interface {
	Weigh(h *HostState, r *Request) float64
	Multiplier(h *HostState) float64
}

// MinValZero is an optional interface of a Weigher: normalise against 0
// rather than the smallest raw value (Nova's minval = 0 for RAM, CPU, disk
// and I/O ops).
type MinValZero interface {
	MinValZero() bool
}

// UniformMultiplier is an optional interface of a Weigher: when it
// reports ok, every host of the request has multiplier m (no aggregate
// overrides it), which spares a call per host.
type UniformMultiplier interface {
	UniformMultiplier(r *Request) (m float64, ok bool)
}

// WeigherApplier is an optional interface of a Weigher: when Applies is
// false every host would get the same weight, so the weigher is skipped.
type WeigherApplier interface {
	Applies(r *Request) bool
}

// FilterFactory builds a filter from the scheduler's options (defaults
// filled in). It runs once, when the Scheduler is created.
type FilterFactory func(opts *Options) (Filter, error)

// WeigherFactory builds a weigher from the scheduler's options.
type WeigherFactory func(opts *Options) (Weigher, error)

// ErrDuplicate is returned when a filter or weigher name is registered
// twice.
var ErrDuplicate = errors.New("scheduler: already registered")

// Registry maps filter and weigher names to factories. It is a value: an
// embedder starts from [NewRegistry] (every built-in) and adds its own.
// Safe for concurrent use.
type Registry struct {
	mu       sync.RWMutex
	filters  map[string]FilterFactory
	weighers map[string]WeigherFactory
	worder   []string
}

// NewRegistry returns a registry holding every built-in filter and
// weigher.
func NewRegistry() *Registry {
	r := &Registry{filters: map[string]FilterFactory{}, weighers: map[string]WeigherFactory{}}
	for name, f := range builtinFilters() {
		_ = r.RegisterFilter(name, f)
	}
	for _, w := range builtinWeighers() {
		_ = r.RegisterWeigher(w.name, w.f)
	}
	return r
}

// RegisterFilter adds a filter factory under name. A name in use gives an
// error wrapping ErrDuplicate.
func (r *Registry) RegisterFilter(name string, f FilterFactory) error {
	if name == "" || f == nil {
		return errors.New("scheduler: RegisterFilter needs a name and a factory")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.filters[name]; ok {
		return fmt.Errorf("%w: filter %q", ErrDuplicate, name)
	}
	r.filters[name] = f
	return nil
}

// RegisterWeigher adds a weigher factory under name. A name in use gives
// an error wrapping ErrDuplicate.
func (r *Registry) RegisterWeigher(name string, f WeigherFactory) error {
	if name == "" || f == nil {
		return errors.New("scheduler: RegisterWeigher needs a name and a factory")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.weighers[name]; ok {
		return fmt.Errorf("%w: weigher %q", ErrDuplicate, name)
	}
	r.weighers[name] = f
	r.worder = append(r.worder, name)
	return nil
}

// Filters returns the registered filter names, sorted.
func (r *Registry) Filters() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]string, 0, len(r.filters))
	for n := range r.filters {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Weighers returns the registered weigher names in registration order.
func (r *Registry) Weighers() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return append([]string(nil), r.worder...)
}

type namedFilter struct {
	name string
	f    Filter
	once bool
	app  FilterApplier
}

type namedWeigher struct {
	name    string
	w       Weigher
	minZero bool
	app     WeigherApplier
	uni     UniformMultiplier
}

func (r *Registry) build(opts *Options) ([]namedFilter, []namedWeigher, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var fs []namedFilter
	for _, name := range opts.EnabledFilters {
		fac, ok := r.filters[name]
		if !ok {
			return nil, nil, fmt.Errorf("scheduler: enabled_filters: unknown filter %q", name)
		}
		f, err := fac(opts)
		if err != nil {
			return nil, nil, fmt.Errorf("scheduler: filter %s: %w", name, err)
		}
		nf := namedFilter{name: name, f: f}
		if o, ok := f.(OncePerRequest); ok {
			nf.once = o.RunOncePerRequest()
		}
		nf.app, _ = f.(FilterApplier)
		fs = append(fs, nf)
	}
	names := opts.Weighers
	if names == nil {
		names = r.worder
	}
	var ws []namedWeigher
	for _, name := range names {
		fac, ok := r.weighers[name]
		if !ok {
			return nil, nil, fmt.Errorf("scheduler: weight_classes: unknown weigher %q", name)
		}
		w, err := fac(opts)
		if err != nil {
			return nil, nil, fmt.Errorf("scheduler: weigher %s: %w", name, err)
		}
		nw := namedWeigher{name: name, w: w}
		if m, ok := w.(MinValZero); ok {
			nw.minZero = m.MinValZero()
		}
		nw.app, _ = w.(WeigherApplier)
		nw.uni, _ = w.(UniformMultiplier)
		ws = append(ws, nw)
	}
	return fs, ws, nil
}
