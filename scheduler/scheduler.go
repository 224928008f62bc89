package scheduler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/placement"
	"github.com/novakit/novakit/queue"
)

// Placement is the part of placement the scheduler uses. *placement.Index
// satisfies it, and so does every placement backend with the Index's
// method set (the SQL-backed service, the REST client).
type Placement interface {
	Candidates(ctx context.Context, req *placement.CandidateRequest) (*placement.CandidateResult, error)
	SetAllocations(ctx context.Context, allocs map[string]placement.ConsumerAllocations) error
	DeleteAllocations(ctx context.Context, consumer string) error
	Consumer(ctx context.Context, consumer string) (placement.Consumer, error)
}

var _ Placement = (*placement.Index)(nil)

// AllocationRequestVersion is the placement microversion whose allocation
// request format Selection.AllocationRequest follows.
const AllocationRequestVersion = "1.36"

// Config builds a Scheduler.
type Config struct {
	// Placement answers allocation-candidate queries and takes claims.
	// Required.
	Placement Placement
	// Hosts is the cell database view host states are built from.
	// Required.
	Hosts HostSource
	// Options as Nova's configuration; zero fields take Nova's defaults.
	Options Options
	// Registry holds the filters and weighers Options name (nil:
	// NewRegistry()).
	Registry *Registry
	// CellUUID is recorded on host states and selections (alternates stay
	// in the chosen host's cell).
	CellUUID string
	// DefaultAvailabilityZone is the zone of hosts in no zone aggregate
	// (default compute.DefaultAvailabilityZone, "nova").
	DefaultAvailabilityZone string
	// Logger (nil: slog.Default()).
	Logger *slog.Logger
}

// Scheduler picks hosts for instances the way Nova's filter scheduler
// does: placement's allocation candidates, filtered and weighed over cached
// host states, claimed in placement. It is safe for concurrent use; any
// number of Schedulers (in one process or many) may share one placement,
// which refuses any claim that would overcommit.
type Scheduler struct {
	pl       Placement
	opts     Options
	cache    *hostCache
	filters  []namedFilter
	weighers []namedWeigher
	metrics  []metricWeight
	log      *slog.Logger
	pool     sync.Pool

	ccMu  sync.Mutex
	ccMap map[string]ccEntry
}

type ccEntry struct {
	res  *placement.CandidateResult
	at   time.Time
	memo *candMemo
}

// New builds a Scheduler; it validates the options and builds the enabled
// filters and weighers. It does not touch the database: the host-state
// cache loads on the first request (or on Refresh/Run).
func New(cfg Config) (*Scheduler, error) {
	if cfg.Placement == nil || cfg.Hosts == nil {
		return nil, errors.New("scheduler: Config needs Placement and Hosts")
	}
	if err := cfg.Options.Validate(); err != nil {
		return nil, err
	}
	opts := cfg.Options.withDefaults()
	reg := cfg.Registry
	if reg == nil {
		reg = NewRegistry()
	}
	s := &Scheduler{pl: cfg.Placement, opts: opts, log: cfg.Logger, ccMap: map[string]ccEntry{}}
	if s.log == nil {
		s.log = slog.Default()
	}
	var err error
	if s.filters, s.weighers, err = reg.build(&s.opts); err != nil {
		return nil, err
	}
	s.metrics, _ = parseWeightSetting(opts.MetricsWeightSetting)
	az := cfg.DefaultAvailabilityZone
	if az == "" {
		az = compute.DefaultAvailabilityZone
	}
	s.cache = newHostCache(cfg.Hosts, &s.opts, cfg.CellUUID, az)
	s.pool.New = func() any { return &scratch{} }
	return s, nil
}

// Refresh brings the host-state cache up to date now: node, service and
// aggregate records in full, instances changed since the last refresh.
// Safe to call concurrently with requests.
func (s *Scheduler) Refresh(ctx context.Context) error { return s.cache.refresh(ctx) }

// Run refreshes the host-state cache every Options.RefreshInterval until
// ctx ends, then returns ctx.Err(). Refresh errors are logged and retried
// at the next tick. Without Run, requests refresh a cache older than the
// interval themselves.
func (s *Scheduler) Run(ctx context.Context) error {
	t := time.NewTicker(s.opts.RefreshInterval)
	defer t.Stop()
	for {
		if err := s.cache.refresh(ctx); err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "scheduler: host state refresh failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// HostStates returns copies of the cached host states (for inspection and
// tests), refreshing the cache first if it is stale.
func (s *Scheduler) HostStates(ctx context.Context) ([]HostState, error) {
	if err := s.cache.ensureFresh(ctx); err != nil {
		return nil, err
	}
	s.cache.mu.RLock()
	defer s.cache.mu.RUnlock()
	out := make([]HostState, len(s.cache.hosts))
	for i, h := range s.cache.hosts {
		out[i] = *h
	}
	return out, nil
}

type cand struct {
	h  *HostState
	ar int32
}

// scratch is the per-request working memory, pooled so that the hot path
// does not allocate per host.
type scratch struct {
	cands  []cand
	once   []int32
	passed []int32
	w      []float64
	raw    []float64
	rank   []int32
	seen   []uint32
	arOf   []int32 // allocation request per host idx, valid where seen == gen
	idxs   []int32 // host idx per allocation request
	// ptrMemo maps the string data of provider uuids placement returned
	// before to host indexes (for layout memoLayout), so that a later
	// request skips parsing and hashing them. Placement hands out the same
	// strings for the same providers; the keys keep that memory alive, so
	// a pointer can never come to mean another string.
	ptrMemo    ptrTable
	memoLayout uint64
	gen        uint32
	rootOf     map[string]string
	reject     []int
	active     []int32 // filters that apply to the request
	wact       []int32 // weighers that apply to the request
}

func (sc *scratch) reset(nHosts int) {
	if len(sc.seen) < nHosts {
		sc.seen = make([]uint32, nHosts+nHosts/4)
		sc.arOf = make([]int32, len(sc.seen))
		sc.gen = 0
	}
	sc.gen++
	if sc.gen == 0 {
		clear(sc.seen)
		sc.gen = 1
	}
	sc.cands = sc.cands[:0]
	if sc.rootOf != nil {
		clear(sc.rootOf)
	}
}

// requestID is what seeds a decision: the RPC request id when there is
// one, else the instance uuids.
func requestID(ctx context.Context, uuids []string) string {
	if rc, ok := queue.RequestContextFrom(ctx); ok && rc.RequestID != "" {
		return rc.RequestID
	}
	return strings.Join(uuids, ",")
}

func noValidHost(format string, args ...any) error {
	return fmt.Errorf("%w: %s", compute.ErrNoValidHost, fmt.Sprintf(format, args...))
}

// SelectDestinations places every instance of spec and returns, per
// instance uuid in order, the chosen host followed by up to
// MaxAttempts-1 alternates from the same cell. The chosen host is claimed
// in placement with the instance uuid as consumer (project and user from
// spec); alternates are not claimed and carry their own allocation
// request for a reschedule. Instances of a multi-create are placed in
// order; earlier ones count for later ones (host consumption, server-group
// policies). If one cannot be placed, the claims made for the earlier ones
// are released and the error wraps compute.ErrNoValidHost. Bad input (no
// spec, no uuids, malformed extra specs or hints) gives an error wrapping
// compute.ErrInvalidInput naming the field.
//
// The decision is seeded from the RPC request id (queue.RequestContext)
// or, without one, from the instance uuids: the same request over the same
// state makes the same choice. Safe for concurrent use; blocks on placement
// and, when the cache is stale, on the host source.
func (s *Scheduler) SelectDestinations(ctx context.Context, spec *compute.RequestSpec, instanceUUIDs []string) ([][]compute.Selection, error) {
	if spec == nil {
		return nil, compute.InvalidInput("request_spec", "is required")
	}
	if len(instanceUUIDs) == 0 {
		return nil, compute.InvalidInput("instance_uuids", "at least one instance is required")
	}
	if spec.ProjectID == "" || spec.UserID == "" {
		return nil, compute.InvalidInput("request_spec.project_id", "project and user are required")
	}
	if err := s.cache.ensureFresh(ctx); err != nil {
		return nil, err
	}
	req, err := newRequest(spec, &s.opts, s.opts.Now(), s.metrics)
	if err != nil {
		return nil, err
	}
	seed := seedFor(requestID(ctx, instanceUUIDs))
	creq, err := s.candidateRequest(spec, req, seed)
	if err != nil {
		return nil, err
	}
	res, memo, err := s.candidates(ctx, creq)
	if err != nil {
		if errors.Is(err, placement.ErrInvalid) {
			return nil, fmt.Errorf("%w: %w", compute.ErrInvalidInput, err)
		}
		return nil, fmt.Errorf("scheduler: allocation candidates: %w", err)
	}
	if len(res.AllocationRequests) == 0 {
		return nil, noValidHost("placement has no allocation candidates for the request")
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	sc := s.pool.Get().(*scratch)
	defer s.pool.Put(sc)

	type placed struct {
		uuid string
		h    *HostState
		u    *usage
	}
	var done []placed
	release := func() {
		for _, p := range done {
			if err := s.pl.DeleteAllocations(context.WithoutCancel(ctx), p.uuid); err != nil && !errors.Is(err, placement.ErrNotFound) {
				s.log.WarnContext(ctx, "scheduler: releasing claim", "instance", p.uuid, "err", err)
			}
			s.cache.unconsume(p.h, p.uuid, p.u)
		}
	}
	out := make([][]compute.Selection, len(instanceUUIDs))
	chosen := make(map[*HostState]bool, len(instanceUUIDs))
	pend := make([]pendingAlts, len(instanceUUIDs))
	for i, uuid := range instanceUUIDs {
		req.InstanceIndex = i
		sel, h, u, err := s.placeOne(ctx, req, res, memo, sc, rng, uuid, i == 0, len(instanceUUIDs), &pend[i])
		if err != nil {
			release()
			if errors.Is(err, compute.ErrNoValidHost) && len(instanceUUIDs) > 1 {
				return nil, fmt.Errorf("%w (placed %d of %d instances)", err, i, len(instanceUUIDs))
			}
			return nil, err
		}
		done = append(done, placed{uuid, h, u})
		chosen[h] = true
		out[i] = sel
	}
	// Alternates, as Nova picks them once every instance has its host:
	// the next best hosts of the same cell not chosen for any instance of
	// the request.
	s.cache.mu.RLock()
	defer s.cache.mu.RUnlock()
	for i := range out {
		for _, alt := range pend[i].alts {
			if len(out[i]) >= s.opts.MaxAttempts {
				break
			}
			if chosen[alt.h] {
				continue
			}
			out[i] = append(out[i], s.selection(alt.h, &res.AllocationRequests[alt.ar], req))
		}
	}
	return out, nil
}

// pendingAlts holds an instance's alternate candidates until the whole
// batch is placed.
type pendingAlts struct {
	alts []cand
}

// placeOne filters, weighs, claims and picks alternates for one instance.
func (s *Scheduler) placeOne(ctx context.Context, req *Request, res *placement.CandidateResult, memo *candMemo, sc *scratch, rng *rand.Rand, uuid string, first bool, nInstances int, pending *pendingAlts) ([]compute.Selection, *HostState, *usage, error) {
	c := s.cache
	c.mu.RLock()
	if first {
		req.resolveHosts(c)
		s.mapCandidates(res, memo, sc)
	}
	forced := s.restrictHosts(req, sc, first)
	if len(sc.cands) == 0 {
		c.mu.RUnlock()
		return nil, nil, nil, noValidHost("no candidate host is allowed by ignore_hosts, force_hosts/force_nodes or requested_destination")
	}
	if first {
		sc.once = sc.once[:0]
		if len(sc.reject) < len(s.filters) {
			sc.reject = make([]int, len(s.filters))
		}
		clear(sc.reject)
		sc.active = sc.active[:0]
		for i := range s.filters {
			if f := &s.filters[i]; f.app == nil || f.app.Applies(req) {
				sc.active = append(sc.active, int32(i))
			}
		}
		for j := range sc.cands {
			if forced || s.passes(sc.cands[j].h, req, true, sc) {
				sc.once = append(sc.once, int32(j))
			}
		}
	}
	sc.passed = sc.passed[:0]
	for _, j := range sc.once {
		if forced || s.passes(sc.cands[j].h, req, false, sc) {
			sc.passed = append(sc.passed, j)
		}
	}
	if len(sc.passed) == 0 {
		msg := s.rejections(sc.reject, len(sc.cands))
		c.mu.RUnlock()
		return nil, nil, nil, noValidHost("no host passed the filters (%s)", msg)
	}
	s.weigh(req, sc)
	k := min(len(sc.passed), s.opts.HostSubsetSize+s.opts.MaxAttempts+4)
	topK(sc, k)
	c.mu.RUnlock()

	// Nova: the chosen host is drawn among the best host_subset_size, the
	// others keep their weight order.
	sub := min(s.opts.HostSubsetSize, len(sc.rank))
	if pick := rng.IntN(sub); pick > 0 {
		p := sc.rank[pick]
		copy(sc.rank[1:pick+1], sc.rank[:pick])
		sc.rank[0] = p
	}
	sorted := len(sc.rank) == len(sc.passed)
	for n := 0; ; n++ {
		if n == len(sc.rank) {
			if sorted {
				return nil, nil, nil, noValidHost("could not claim resources on any of %d hosts", len(sc.passed))
			}
			c.mu.RLock()
			rest := fullRank(sc, n)
			c.mu.RUnlock()
			sorted = true
			if !rest {
				return nil, nil, nil, noValidHost("could not claim resources on any of %d hosts", len(sc.passed))
			}
		}
		cd := sc.cands[sc.passed[sc.rank[n]]]
		ar := &res.AllocationRequests[cd.ar]
		err := s.claim(ctx, uuid, req.Spec, ar)
		if err != nil {
			if ctx.Err() != nil {
				return nil, nil, nil, ctx.Err()
			}
			if !isClaimConflict(err) {
				return nil, nil, nil, fmt.Errorf("scheduler: claiming for %s: %w", uuid, err)
			}
			continue
		}
		u := &usage{ramMB: int64(req.Spec.Flavor.MemoryMB), vcpus: int64(req.Spec.Flavor.VCPUs), numa: req.NUMA, pci: req.PCI}
		root := req.Spec.Flavor.RootGB
		if req.Spec.IsBFV {
			root = 0
		}
		u.diskMB = int64(root+req.Spec.Flavor.EphemeralGB) * 1024
		c.consume(cd.h, uuid, u)
		// Host states change under refreshes: read them under the lock.
		c.mu.RLock()
		defer c.mu.RUnlock()
		if req.Group != nil {
			req.GroupHosts[cd.h.Host]++
		}
		sels := make([]compute.Selection, 1, s.opts.MaxAttempts)
		sels[0] = s.selection(cd.h, ar, req)
		// Alternate candidates: enough, in weight order, to still have
		// MaxAttempts-1 once the hosts chosen for the other instances of
		// the batch are left out (done by the caller).
		want := s.opts.MaxAttempts - 1 + nInstances
		var alts []cand
		for m := n + 1; len(alts) < want; m++ {
			if m == len(sc.rank) {
				if sorted || !fullRank(sc, m) {
					break
				}
				sorted = true
			}
			alt := sc.cands[sc.passed[sc.rank[m]]]
			if alt.h == cd.h || alt.h.CellUUID != cd.h.CellUUID {
				continue
			}
			alts = append(alts, alt)
		}
		pending.alts = alts
		return sels, cd.h, u, nil
	}
}

func isClaimConflict(err error) bool {
	return errors.Is(err, placement.ErrCapacityExceeded) || errors.Is(err, placement.ErrConsumerGenerationConflict) ||
		errors.Is(err, placement.ErrGenerationConflict) || errors.Is(err, placement.ErrNotFound)
}

// passes runs the applicable once-per-request filters (once true) or the
// others.
func (s *Scheduler) passes(h *HostState, r *Request, once bool, sc *scratch) bool {
	for _, i := range sc.active {
		f := &s.filters[i]
		if f.once != once {
			continue
		}
		if !f.f.HostPasses(h, r) {
			sc.reject[i]++
			return false
		}
	}
	return true
}

func (s *Scheduler) rejections(reject []int, n int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d candidates", n)
	for i, f := range s.filters {
		if reject[i] > 0 {
			fmt.Fprintf(&b, "; %s rejected %d", f.name, reject[i])
		}
	}
	return b.String()
}

// mapCandidates turns allocation requests into one candidate per known
// compute node (the first allocation request naming it); c must be
// read-locked. A memo (shared by the requests using one cached result)
// keeps the lookups for the next request.
func (s *Scheduler) mapCandidates(res *placement.CandidateResult, memo *candMemo, sc *scratch) {
	c := s.cache
	sc.reset(len(c.hosts))
	var idxs []int32
	if memo != nil {
		memo.mu.Lock()
		if memo.idx == nil || memo.layout != c.layout {
			memo.idx = s.lookupCandidates(res, sc, nil) // a new slice: others may still read the old one
			memo.layout = c.layout
		}
		idxs = memo.idx
		memo.mu.Unlock()
	} else {
		sc.idxs = s.lookupCandidates(res, sc, sc.idxs[:0])
		idxs = sc.idxs
	}
	for i, idx := range idxs {
		if idx < 0 || int(idx) >= len(sc.seen) || sc.seen[idx] == sc.gen {
			continue
		}
		sc.seen[idx] = sc.gen
		sc.arOf[idx] = int32(i)
	}
	// Candidates in host order: host states are allocated in that order,
	// so filters and weighers walk memory sequentially.
	for idx, h := range c.hosts {
		if sc.seen[idx] == sc.gen {
			sc.cands = append(sc.cands, cand{h: h, ar: sc.arOf[idx]})
		}
	}
}

// lookupCandidates appends, per allocation request, the index of its
// compute node's host state (-1 for none): the first provider that is a
// known node, else the root of the first provider's tree.
func (s *Scheduler) lookupCandidates(res *placement.CandidateResult, sc *scratch, out []int32) []int32 {
	c := s.cache
	if sc.memoLayout != c.layout || sc.ptrMemo.n > 4*len(c.hosts)+1024 {
		sc.ptrMemo.reset()
		sc.memoLayout = c.layout
	}
	for i := range res.AllocationRequests {
		ar := &res.AllocationRequests[i]
		idx := int32(-1)
		for _, pr := range ar.Allocations {
			u := pr.ProviderUUID
			if len(u) == 0 {
				continue
			}
			p := unsafe.Pointer(unsafe.StringData(u))
			var ok bool
			if idx, ok = sc.ptrMemo.get(p); !ok {
				idx = c.lookup(u)
				sc.ptrMemo.put(p, idx)
			}
			if idx >= 0 {
				break
			}
		}
		if idx < 0 {
			// Only child or sharing providers: find the tree's root.
			if sc.rootOf == nil {
				sc.rootOf = map[string]string{}
			}
			if len(sc.rootOf) == 0 {
				for _, ps := range res.ProviderSummaries {
					sc.rootOf[ps.UUID] = ps.RootUUID
				}
			}
			for _, pr := range ar.Allocations {
				if idx = c.lookup(sc.rootOf[pr.ProviderUUID]); idx >= 0 {
					break
				}
			}
		}
		out = append(out, idx)
	}
	return out
}

// restrictHosts applies ignore_hosts, force_hosts/force_nodes and the
// requested destination's host and node to the candidates (Nova's
// get_filtered_hosts). It reports whether hosts were forced, which skips
// the filters. Only the first instance changes the list.
func (s *Scheduler) restrictHosts(req *Request, sc *scratch, first bool) (forced bool) {
	spec := req.Spec
	forced = len(spec.ForceHosts) > 0 || len(spec.ForceNodes) > 0
	if !first {
		return forced
	}
	dest := spec.RequestedDestination
	if len(spec.IgnoreHosts) == 0 && !forced && (dest == nil || (dest.Host == "" && dest.Node == "")) {
		return false
	}
	keep := sc.cands[:0]
	for _, cd := range sc.cands {
		h := cd.h
		if containsFold(spec.IgnoreHosts, h.Host) {
			continue
		}
		if len(spec.ForceHosts) > 0 && !containsFold(spec.ForceHosts, h.Host) {
			continue
		}
		if len(spec.ForceNodes) > 0 && !containsFold(spec.ForceNodes, h.Nodename) {
			continue
		}
		if dest != nil && ((dest.Host != "" && dest.Host != h.Host) || (dest.Node != "" && dest.Node != h.Nodename)) {
			continue
		}
		keep = append(keep, cd)
	}
	sc.cands = keep
	return forced
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// weigh computes the weight of every passed host into sc.w.
func (s *Scheduler) weigh(req *Request, sc *scratch) {
	n := len(sc.passed)
	sc.w = slices.Grow(sc.w[:0], n)[:n]
	clear(sc.w)
	// The weighers that apply, and one raw-value column each, filled in a
	// single pass over the hosts (each host state is touched once).
	sc.wact = sc.wact[:0]
	for i := range s.weighers {
		if nw := &s.weighers[i]; nw.app == nil || nw.app.Applies(req) {
			sc.wact = append(sc.wact, int32(i))
		}
	}
	k := len(sc.wact)
	if k == 0 {
		return
	}
	sc.raw = slices.Grow(sc.raw[:0], n*k)[:n*k]
	for j, ci := range sc.passed {
		h := sc.cands[ci].h
		row := sc.raw[j*k : j*k+k]
		for q, wi := range sc.wact {
			row[q] = s.weighers[wi].w.Weigh(h, req)
		}
	}
	for q, wi := range sc.wact {
		nw := &s.weighers[wi]
		lo, hi := sc.raw[q], sc.raw[q]
		if nw.minZero { // Nova's minval = 0: the minimum starts at 0, the maximum at the first value
			lo = min(lo, 0)
		}
		for j := 1; j < n; j++ {
			x := sc.raw[j*k+q]
			if x < lo {
				lo = x
			} else if x > hi {
				hi = x
			}
		}
		if hi == lo {
			continue
		}
		span := hi - lo
		if nw.uni != nil {
			if m, ok := nw.uni.UniformMultiplier(req); ok {
				f := m / span
				for j := 0; j < n; j++ {
					sc.w[j] += f * (sc.raw[j*k+q] - lo)
				}
				continue
			}
		}
		for j, ci := range sc.passed {
			sc.w[j] += nw.w.Multiplier(sc.cands[ci].h) * (sc.raw[j*k+q] - lo) / span
		}
	}
}

// better orders passed positions: higher weight first, then placement's
// (seeded) candidate order.
func better(sc *scratch, a, b int32) bool {
	wa, wb := sc.w[a], sc.w[b]
	if wa != wb {
		return wa > wb
	}
	return sc.cands[sc.passed[a]].ar < sc.cands[sc.passed[b]].ar
}

// topK leaves in sc.rank the k best passed positions, best first, in
// O(n·k) without allocating.
func topK(sc *scratch, k int) {
	sc.rank = slices.Grow(sc.rank[:0], k)[:0]
	for j := range sc.passed {
		p := int32(j)
		if len(sc.rank) == k && !better(sc, p, sc.rank[k-1]) {
			continue
		}
		if len(sc.rank) < k {
			sc.rank = append(sc.rank, p)
		} else {
			sc.rank[k-1] = p
		}
		for q := len(sc.rank) - 1; q > 0 && better(sc, sc.rank[q], sc.rank[q-1]); q-- {
			sc.rank[q], sc.rank[q-1] = sc.rank[q-1], sc.rank[q]
		}
	}
}

// fullRank appends every passed position not yet in sc.rank[:n], in
// weight order; it reports whether any was added.
func fullRank(sc *scratch, n int) bool {
	in := make(map[int32]bool, n)
	for _, p := range sc.rank[:n] {
		in[p] = true
	}
	var rest []int32
	for j := range sc.passed {
		if !in[int32(j)] {
			rest = append(rest, int32(j))
		}
	}
	slices.SortFunc(rest, func(a, b int32) int {
		if better(sc, a, b) {
			return -1
		}
		if better(sc, b, a) {
			return 1
		}
		return 0
	})
	sc.rank = append(sc.rank[:n], rest...)
	return len(rest) > 0
}

// claim puts the allocation request as the consumer's allocations. A new
// consumer is claimed with generation nil; if the consumer already holds
// allocations (an evacuation keeps the source's), the new ones are merged
// into them under the consumer's generation, as Nova's claim_resources
// does, retrying a lost generation race a few times.
func (s *Scheduler) claim(ctx context.Context, uuid string, spec *compute.RequestSpec, ar *placement.AllocationRequest) error {
	allocs := make(map[string]map[string]int64, len(ar.Allocations))
	for _, pr := range ar.Allocations {
		m := make(map[string]int64, len(pr.Resources))
		for _, r := range pr.Resources {
			m[r.Class] = r.Amount
		}
		allocs[pr.ProviderUUID] = m
	}
	ca := placement.ConsumerAllocations{Project: spec.ProjectID, User: spec.UserID, ConsumerType: placement.ConsumerTypeInstance, Allocations: allocs}
	err := s.pl.SetAllocations(ctx, map[string]placement.ConsumerAllocations{uuid: ca})
	for try := 0; try < 3 && errors.Is(err, placement.ErrConsumerGenerationConflict); try++ {
		cur, gerr := s.pl.Consumer(ctx, uuid)
		switch {
		case errors.Is(gerr, placement.ErrNotFound):
			ca.Generation = nil
			ca.Allocations = allocs
		case gerr != nil:
			return gerr
		default:
			merged := make(map[string]map[string]int64, len(allocs)+len(cur.Allocations))
			for rp, pa := range cur.Allocations {
				m := make(map[string]int64, len(pa.Resources))
				for rc, n := range pa.Resources {
					m[rc] = n
				}
				merged[rp] = m
			}
			for rp, m := range allocs {
				if merged[rp] == nil {
					merged[rp] = map[string]int64{}
				}
				for rc, n := range m {
					merged[rp][rc] += n
				}
			}
			g := cur.Generation
			ca.Generation, ca.Allocations = &g, merged
		}
		err = s.pl.SetAllocations(ctx, map[string]placement.ConsumerAllocations{uuid: ca})
	}
	return err
}

// selection renders one host and its allocation request.
func (s *Scheduler) selection(h *HostState, ar *placement.AllocationRequest, req *Request) compute.Selection {
	sel := compute.Selection{
		ServiceHost: h.Host, Nodename: h.Nodename, ComputeNodeUUID: h.UUID, CellUUID: h.CellUUID,
		AllocationRequest: allocationRequestJSON(ar), AllocationRequestVersion: AllocationRequestVersion,
		AvailabilityZone: h.AvailabilityZone,
	}
	if req.NUMA != nil || len(req.Spec.Limits) > 0 {
		sel.Limits = map[string]float64{}
		for k, v := range req.Spec.Limits {
			sel.Limits[k] = v
		}
		if req.NUMA != nil {
			sel.Limits["cpu_allocation_ratio"] = h.CPUAllocationRatio
			sel.Limits["ram_allocation_ratio"] = h.RAMAllocationRatio
		}
	}
	return sel
}

// allocationRequestJSON renders an allocation request in placement's
// 1.34+ JSON form.
func allocationRequestJSON(ar *placement.AllocationRequest) json.RawMessage {
	b := make([]byte, 0, 128)
	b = append(b, `{"allocations":{`...)
	for i, pr := range ar.Allocations {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendQuote(b, pr.ProviderUUID)
		b = append(b, `:{"resources":{`...)
		for j, r := range pr.Resources {
			if j > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendQuote(b, r.Class)
			b = append(b, ':')
			b = strconv.AppendInt(b, r.Amount, 10)
		}
		b = append(b, "}}"...)
	}
	b = append(b, `},"mappings":{`...)
	for i, m := range ar.Mappings {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendQuote(b, m.Suffix)
		b = append(b, ":["...)
		for j, p := range m.Providers {
			if j > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendQuote(b, p)
		}
		b = append(b, ']')
	}
	b = append(b, "}}"...)
	return b
}
