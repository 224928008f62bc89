package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/novakit/novakit/identity"
	"github.com/novakit/novakit/identity/policy"
	"github.com/novakit/novakit/placement"
)

// DefaultMaxBodyBytes is the request body limit when Options.MaxBodyBytes is
// zero.
const DefaultMaxBodyBytes = 8 << 20

// Header names.
const (
	HeaderVersion   = "OpenStack-API-Version"
	HeaderRequestID = "X-Openstack-Request-Id"
	HeaderAuthToken = "X-Auth-Token"
	serviceType     = "placement"
)

// Backend is what the API serves: the method set of *placement.Index,
// which store/placementstore.Service and placement/client.Client share.
// Implementations must be safe for concurrent use and return the placement
// package's errors (errors.Is with placement.ErrNotFound, …; the error
// code through placement.ErrorCode), which the API maps to statuses.
type Backend interface {
	CreateProvider(ctx context.Context, spec placement.ProviderSpec) (placement.ResourceProvider, error)
	UpdateProvider(ctx context.Context, u string, up placement.ProviderUpdate) (placement.ResourceProvider, error)
	DeleteProvider(ctx context.Context, u string) error
	Provider(ctx context.Context, u string) (placement.ResourceProvider, error)
	Providers(ctx context.Context, f placement.ProviderFilter) ([]placement.ResourceProvider, error)
	Inventories(ctx context.Context, u string) (map[string]placement.Inventory, int64, error)
	SetInventories(ctx context.Context, u string, generation int64, invs map[string]placement.Inventory) (int64, []string, error)
	ProviderUsages(ctx context.Context, u string) (map[string]int64, int64, error)
	Traits(ctx context.Context, u string) ([]string, int64, error)
	SetTraits(ctx context.Context, u string, generation int64, traits []string) (int64, error)
	Aggregates(ctx context.Context, u string) ([]string, int64, error)
	SetAggregates(ctx context.Context, u string, generation int64, aggs []string) (int64, error)
	ResourceClasses(ctx context.Context) ([]string, error)
	CreateResourceClass(ctx context.Context, name string) error
	DeleteResourceClass(ctx context.Context, name string) error
	TraitNames(ctx context.Context) ([]string, error)
	CreateTrait(ctx context.Context, name string) (bool, error)
	DeleteTrait(ctx context.Context, name string) error
	SetAllocations(ctx context.Context, allocs map[string]placement.ConsumerAllocations) error
	Reshape(ctx context.Context, invs map[string]placement.InventoryUpdate, allocs map[string]placement.ConsumerAllocations) error
	DeleteAllocations(ctx context.Context, consumer string) error
	Consumer(ctx context.Context, consumer string) (placement.Consumer, error)
	ProviderAllocations(ctx context.Context, u string) (map[string]map[string]int64, int64, error)
	Usages(ctx context.Context, f placement.UsageFilter) ([]placement.Usage, error)
	Candidates(ctx context.Context, req *placement.CandidateRequest) (*placement.CandidateResult, error)
}

var _ Backend = (*placement.Index)(nil)

// ResourceClassRenamer is an optional Backend extension for PUT
// /resource_classes/{name} below microversion 1.7 (rename a custom class,
// keeping its inventories and allocations). Errors: placement.ErrNotFound
// (no class old), placement.ErrInvalid (a standard class or a bad new
// name), placement.ErrDuplicateName (new exists). Without it the API
// renames a class no provider uses (create new, delete old) and refuses
// with 409 when the class is in use.
type ResourceClassRenamer interface {
	RenameResourceClass(ctx context.Context, old, new string) error
}

// Pinger is an optional Backend extension GET /healthz calls: a non-nil
// error (database unreachable) makes it answer 503.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Options configure the handler built by New.
type Options struct {
	// Authenticator validates X-Auth-Token (a Keystone validator in
	// production). Nil refuses every request but GET / and GET /healthz with
	// 401: pass NoAuth() for Placement's noauth2 behaviour. An error
	// matching identity.ErrUnauthorized is 401; any other (the identity
	// service is unreachable) is 503.
	Authenticator identity.Authenticator
	// Enforcer decides who may call what (an identity/policy Enforcer;
	// build it with NewEnforcer, which registers Placement's rules, then
	// override rules or load a policy.yaml; a rule it does not know makes
	// the request fail with 500). Nil: Placement's defaults of
	// PolicyDefaults with Policy overrides.
	Enforcer *policy.Enforcer
	// PolicyDefaults selects Placement's default rule set when Enforcer is
	// nil (zero: PolicyLegacy, everything admin-only).
	PolicyDefaults PolicyDefaults
	// Policy overrides rules by name with oslo.policy check strings when
	// Enforcer is nil; rules not named keep their default. Under
	// PolicySecureRBAC the scope check applies to overridden rules too, as
	// scope types belong to the registered default in oslo.policy. New
	// panics if a check string does not parse: validate untrusted input
	// with NewEnforcer.
	Policy map[string]string
	// MaxBodyBytes limits request bodies (≤ 0: DefaultMaxBodyBytes); a larger
	// body is refused with 413.
	MaxBodyBytes int64
	// Now is the clock for last-modified headers (nil: time.Now).
	Now func() time.Time
	// CORS enables cross-origin requests (nil: off, as Placement without
	// [cors] allowed_origin).
	CORS *CORS
	// Logger receives one line per request (method, path, route, status,
	// duration, request_id, global_request_id, user, project) at Info, 5xx at
	// Error. Nil: no request log.
	Logger *slog.Logger
	// Registry receives the request metrics served at GET /metrics (nil: a
	// registry of the handler's own, with the Go and process collectors).
	Registry *prometheus.Registry
}

// server is the http.Handler New returns.
type server struct {
	idx     Backend
	auth    identity.Authenticator
	policy  *policy.Enforcer
	maxBody int64
	now     func() time.Time
	cors    *CORS
	log     *slog.Logger
	metrics *metrics
}

// New returns the OpenStack Placement REST API (microversions 1.0–1.39) over
// b, with GET /healthz and GET /metrics besides. It is safe for concurrent
// use; all state lives in b. It panics if Options.Registry already holds
// collectors of the same names (two handlers sharing one registry) or if
// an Options.Policy check string does not parse.
func New(b Backend, opts Options) http.Handler {
	s := &server{idx: b, auth: opts.Authenticator, maxBody: opts.MaxBodyBytes, now: opts.Now,
		policy: opts.Enforcer, cors: opts.CORS.withDefaults(), log: opts.Logger}
	if s.policy == nil {
		e, err := NewEnforcer(opts.PolicyDefaults, opts.Policy)
		if err != nil {
			panic("placement/api: " + err.Error())
		}
		s.policy = e
	}
	if s.maxBody <= 0 {
		s.maxBody = DefaultMaxBodyBytes
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.metrics = newMetrics(opts.Registry)
	return s
}

// request is the state of one API call.
type request struct {
	s       *server
	sw      statusWriter
	w       http.ResponseWriter
	r       *http.Request
	ctx     context.Context
	id      string
	v       placement.Version
	hasV    bool // v was negotiated (false before negotiation, e.g. 401)
	params  map[string]string
	creds   *identity.Credentials
	written bool
}

// statusWriter remembers the status written, for metrics and the log.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// httpError is an error with a status, written as Placement's error body.
type httpError struct {
	status int
	code   string
	detail string
	extra  map[string]any
	allow  []string // Allow header of a 405
}

func (e *httpError) Error() string { return fmt.Sprintf("%d %s", e.status, e.detail) }

func errorf(status int, format string, args ...any) *httpError {
	return &httpError{status: status, detail: fmt.Sprintf(format, args...)}
}

func badRequest(format string, args ...any) *httpError {
	return errorf(http.StatusBadRequest, format, args...)
}

// Fixed routes outside Placement's API.
const (
	pathHealthz = "/healthz"
	pathMetrics = "/metrics"
)

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rq := &request{s: s, r: r, ctx: r.Context(), id: "req-" + uuid.NewString()}
	rq.sw.ResponseWriter = w
	rq.w = &rq.sw
	route := "other"
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			if !rq.written {
				rq.fail(errorf(http.StatusInternalServerError, "internal error: %v", p))
			}
		}
		s.observe(rq, route, start)
	}()
	w.Header().Set(HeaderRequestID, rq.id)
	if s.cors != nil && s.cors.handle(rq.w, r) {
		route = "cors-preflight"
		return
	}
	path := r.URL.Path
	switch path {
	case pathHealthz:
		route = pathHealthz
		s.healthz(rq)
		return
	case pathMetrics:
		route = pathMetrics
		s.metrics.handler.ServeHTTP(rq.w, r)
		return
	}
	isRoot := path == "/" || path == ""
	rt, params := findRoute(path)
	if rt != nil {
		route = rt.pattern
	}
	if !isRoot {
		tok := r.Header.Get(HeaderAuthToken)
		if tok == "" || s.auth == nil {
			rq.fail(errorf(http.StatusUnauthorized, "The request you have made requires authentication."))
			return
		}
		c, err := s.auth.Authenticate(rq.ctx, tok)
		switch {
		case err == nil && c != nil:
			rq.creds = c
			rq.ctx = identity.NewContext(rq.ctx, c)
		case err == nil || errors.Is(err, identity.ErrUnauthorized):
			rq.fail(errorf(http.StatusUnauthorized, "The request you have made requires authentication."))
			return
		default:
			if s.log != nil {
				s.log.LogAttrs(rq.ctx, slog.LevelError, "token validation failed", slog.String("request_id", rq.id), slog.String("error", err.Error()))
			}
			rq.fail(errorf(http.StatusServiceUnavailable, "The identity service could not validate the token; try again later."))
			return
		}
	}
	if err := rq.negotiate(); err != nil {
		rq.fail(err)
		return
	}
	if isRoot {
		route = "/"
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET")
			rq.fail(errorf(http.StatusMethodNotAllowed, "The method specified is not allowed for this resource."))
			return
		}
		rq.json(http.StatusOK, versionDocument(), time.Time{})
		return
	}
	ep, err := match(rt, r.Method, rq.v)
	if err != nil {
		rq.fail(err)
		return
	}
	rq.params = params
	var t Target
	if ep.rule == RuleTotalUsages {
		q := r.URL.Query()
		t = Target{ProjectID: q.Get("project_id"), UserID: q.Get("user_id")}
	}
	if err := rq.authorize(ep.rule, t); err != nil {
		rq.fail(err)
		return
	}
	if err := ep.h(rq); err != nil {
		rq.fail(err)
	}
}

// healthz answers GET /healthz without authentication: 200 "ok", or 503
// with the reason when the backend is a Pinger that fails.
func (s *server) healthz(rq *request) {
	if rq.r.Method != http.MethodGet && rq.r.Method != http.MethodHead {
		rq.w.Header().Set("Allow", "GET")
		rq.w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	rq.w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	rq.w.Header().Set("Cache-Control", "no-cache")
	if p, ok := s.idx.(Pinger); ok {
		if err := p.Ping(rq.ctx); err != nil {
			rq.w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(rq.w, "unavailable: "+err.Error()+"\n")
			return
		}
	}
	_, _ = io.WriteString(rq.w, "ok\n")
}

// observe counts the request and logs it.
func (s *server) observe(rq *request, route string, start time.Time) {
	status := rq.sw.status
	if status == 0 {
		status = http.StatusOK
	}
	d := time.Since(start)
	s.metrics.observe(route, rq.r.Method, status, d)
	if s.log == nil {
		return
	}
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelError
	}
	if !s.log.Enabled(rq.ctx, level) {
		return
	}
	attrs := make([]slog.Attr, 0, 10)
	attrs = append(attrs,
		slog.String("request_id", rq.id),
		slog.String("method", rq.r.Method),
		slog.String("path", rq.r.URL.Path),
		slog.String("route", route),
		slog.Int("status", status),
		slog.Duration("duration", d))
	if g := rq.r.Header.Get(HeaderRequestID); isRequestID(g) {
		attrs = append(attrs, slog.String("global_request_id", g))
	}
	if rq.hasV {
		attrs = append(attrs, slog.String("microversion", rq.v.String()))
	}
	if rq.creds != nil {
		attrs = append(attrs, slog.String("user_id", rq.creds.UserID), slog.String("project_id", rq.creds.ProjectID))
	}
	s.log.LogAttrs(rq.ctx, level, "placement request", attrs...)
}

// isRequestID reports whether s has the form req-UUID, the only inbound
// request id oslo.middleware accepts as a global request id.
func isRequestID(s string) bool {
	return len(s) == 40 && strings.HasPrefix(s, "req-") && uuidLike(s[4:])
}

func versionDocument() map[string]any {
	return map[string]any{"versions": []any{map[string]any{
		"id":          "v1.0",
		"min_version": placement.MinVersion().String(),
		"max_version": placement.MaxVersion().String(),
		"status":      "CURRENT",
		"links":       []any{map[string]any{"rel": "self", "href": ""}},
	}}}
}

// negotiate reads OpenStack-API-Version ("placement X.Y" or "placement
// latest", possibly among other services' entries); absent means 1.0.
func (rq *request) negotiate() error {
	v := placement.MinVersion()
	for _, h := range rq.r.Header.Values(HeaderVersion) {
		for _, part := range strings.Split(h, ",") {
			f := strings.Fields(part)
			if len(f) == 0 || !strings.EqualFold(f[0], serviceType) {
				continue
			}
			if len(f) != 2 {
				return versionError(strings.TrimSpace(part))
			}
			pv, err := placement.ParseVersion(f[1])
			if err != nil || !pv.Supported() {
				return versionError(f[1])
			}
			v = pv
		}
	}
	rq.v, rq.hasV = v, true
	rq.w.Header().Set(HeaderVersion, serviceType+" "+v.String())
	rq.w.Header().Add("Vary", HeaderVersion)
	return nil
}

func versionError(s string) *httpError {
	e := errorf(http.StatusNotAcceptable, "Unacceptable version header: %s", s)
	e.extra = map[string]any{"min_version": placement.MinVersion().String(), "max_version": placement.MaxVersion().String()}
	return e
}

// fail writes err as Placement's error body.
func (rq *request) fail(err error) {
	he := toHTTPError(err)
	if rq.written {
		return
	}
	e := map[string]any{
		"status":     he.status,
		"title":      http.StatusText(he.status),
		"detail":     he.detail,
		"request_id": rq.id,
	}
	if rq.hasV && rq.v.AtLeast(23) {
		code := he.code
		if code == "" {
			code = placement.CodeUndefined
		}
		e["code"] = code
	}
	for k, v := range he.extra {
		e[k] = v
	}
	if he.allow != nil {
		rq.w.Header().Set("Allow", strings.Join(he.allow, ", "))
	}
	rq.w.Header().Del("Last-Modified")
	rq.w.Header().Del("Cache-Control")
	rq.json(he.status, map[string]any{"errors": []any{e}}, time.Time{})
}

// toHTTPError maps placement errors to statuses.
func toHTTPError(err error) *httpError {
	var he *httpError
	if errors.As(err, &he) {
		return he
	}
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return errorf(http.StatusRequestEntityTooLarge, "request body larger than %d bytes", tooBig.Limit)
	}
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, placement.ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(err, placement.ErrInvalid):
		status = http.StatusBadRequest
	case errors.Is(err, placement.ErrGenerationConflict), errors.Is(err, placement.ErrConsumerGenerationConflict),
		errors.Is(err, placement.ErrInventoryInUse), errors.Is(err, placement.ErrCapacityExceeded),
		errors.Is(err, placement.ErrDuplicateName), errors.Is(err, placement.ErrProviderInUse),
		errors.Is(err, placement.ErrCannotDeleteParent), errors.Is(err, placement.ErrInUse):
		status = http.StatusConflict
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		status = http.StatusServiceUnavailable
	}
	return &httpError{status: status, code: placement.ErrorCode(err), detail: err.Error()}
}

// json writes v with status; a non-zero lastModified (1.15+) also sets
// last-modified and cache-control: no-cache.
func (rq *request) json(status int, v any, lastModified time.Time) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"errors":[{"status":500,"title":"Internal Server Error","detail":"encoding failed"}]}`)
	}
	rq.raw(status, b, lastModified)
}

// raw writes the JSON document b with status, as json does.
func (rq *request) raw(status int, b []byte, lastModified time.Time) {
	h := rq.w.Header()
	if !lastModified.IsZero() && rq.v.AtLeast(15) {
		h.Set("Last-Modified", lastModified.UTC().Format(http.TimeFormat))
		h.Set("Cache-Control", "no-cache")
	}
	h.Set("Content-Type", "application/json")
	rq.written = true
	rq.w.WriteHeader(status)
	if rq.r.Method != http.MethodHead {
		_, _ = rq.w.Write(b)
	}
}

// ok200 writes a 200 JSON body, with last-modified = now for GETs.
func (rq *request) ok(v any) {
	var lm time.Time
	if rq.r.Method == http.MethodGet {
		lm = rq.s.now()
	}
	rq.json(http.StatusOK, v, lm)
}

func (rq *request) noContent(status int) {
	rq.written = true
	rq.w.WriteHeader(status)
}

// seed derives the candidate search seed from the request id, so that
// concurrent schedulers spread out and a decision can be replayed.
func (rq *request) seed() uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(rq.id))
	return h.Sum64()
}

// ---------------------------------------------------------------------------
// Routing

type endpoint struct {
	min  int // lowest minor version, 0 = 1.0
	rule string
	h    func(*request) error
}

type route struct {
	pattern string
	segs    []string // "{x}" segments are parameters
	methods map[string]endpoint
}

var routes []route

func addRoute(pattern string, methods map[string]endpoint) {
	routes = append(routes, route{pattern: pattern, segs: strings.Split(strings.Trim(pattern, "/"), "/"), methods: methods})
}

// findRoute returns the route whose pattern matches path, with its
// parameters, or nil.
func findRoute(path string) (*route, map[string]string) {
	p := strings.TrimPrefix(path, "/")
	n := strings.Count(p, "/") + 1
	for ri := range routes {
		rt := &routes[ri]
		if len(rt.segs) != n {
			continue
		}
		rest := p
		ok := true
		for _, seg := range rt.segs {
			cur, tail, _ := strings.Cut(rest, "/")
			rest = tail
			if strings.HasPrefix(seg, "{") {
				if cur == "" {
					ok = false
					break
				}
			} else if seg != cur {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		var params map[string]string
		rest = p
		for _, seg := range rt.segs {
			cur, tail, _ := strings.Cut(rest, "/")
			rest = tail
			if strings.HasPrefix(seg, "{") {
				if params == nil {
					params = make(map[string]string, 2)
				}
				params[seg[1:len(seg)-1]] = cur
			}
		}
		return rt, params
	}
	return nil, nil
}

// match finds the endpoint of method on route rt (nil: no route) at
// version v: 404 when no route (or no method of it) exists at v, 405 when
// the path exists but not the method.
func match(rt *route, method string, v placement.Version) (endpoint, error) {
	notFound := func() error { return errorf(http.StatusNotFound, "The resource could not be found.") }
	if rt == nil {
		return endpoint{}, notFound()
	}
	m := method
	if m == http.MethodHead {
		m = http.MethodGet
	}
	ep, found := rt.methods[m]
	if found && v.AtLeast(ep.min) {
		return ep, nil
	}
	var allow []string
	for m, ep := range rt.methods {
		if v.AtLeast(ep.min) {
			allow = append(allow, m)
		}
	}
	if len(allow) == 0 || found {
		return endpoint{}, notFound() // the route or the method exists at a later microversion
	}
	sort.Strings(allow)
	e := errorf(http.StatusMethodNotAllowed, "The method specified is not allowed for this resource.")
	e.allow = allow
	return endpoint{}, e
}
