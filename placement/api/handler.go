package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"

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

// Options configure the handler built by New.
type Options struct {
	// Authenticator validates X-Auth-Token. Nil refuses every request but
	// GET / with 401: pass NoAuth() for Placement's noauth2 behaviour.
	Authenticator Authenticator
	// Policy overrides rules of DefaultPolicy by name; rules not named keep
	// their default.
	Policy map[string]Rule
	// MaxBodyBytes limits request bodies (≤ 0: DefaultMaxBodyBytes); a larger
	// body is refused with 413.
	MaxBodyBytes int64
	// Now is the clock for last-modified headers (nil: time.Now).
	Now func() time.Time
	// CORS enables cross-origin requests (nil: off, as Placement without
	// [cors] allowed_origin).
	CORS *CORS
}

// server is the http.Handler New returns.
type server struct {
	idx     *placement.Index
	auth    Authenticator
	policy  map[string]Rule
	maxBody int64
	now     func() time.Time
	cors    *CORS
}

// New returns the OpenStack Placement REST API (microversions 1.0–1.39) over
// idx. It is safe for concurrent use; all state lives in idx.
func New(idx *placement.Index, opts Options) http.Handler {
	s := &server{idx: idx, auth: opts.Authenticator, maxBody: opts.MaxBodyBytes, now: opts.Now, policy: DefaultPolicy(), cors: opts.CORS.withDefaults()}
	if s.maxBody <= 0 {
		s.maxBody = DefaultMaxBodyBytes
	}
	if s.now == nil {
		s.now = time.Now
	}
	for name, r := range opts.Policy {
		s.policy[name] = r
	}
	return s
}

// request is the state of one API call.
type request struct {
	s       *server
	w       http.ResponseWriter
	r       *http.Request
	ctx     context.Context
	id      string
	v       placement.Version
	hasV    bool // v was negotiated (false before negotiation, e.g. 401)
	params  map[string]string
	creds   Credentials
	written bool
}

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

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rq := &request{s: s, w: w, r: r, ctx: r.Context(), id: "req-" + uuid.NewString()}
	w.Header().Set(HeaderRequestID, rq.id)
	if s.cors != nil && s.cors.handle(w, r) {
		return
	}
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			if !rq.written {
				rq.fail(errorf(http.StatusInternalServerError, "internal error: %v", p))
			}
		}
	}()
	path := r.URL.Path
	isRoot := path == "/" || path == ""
	if !isRoot {
		tok := r.Header.Get(HeaderAuthToken)
		if tok == "" || s.auth == nil {
			rq.fail(errorf(http.StatusUnauthorized, "The request you have made requires authentication."))
			return
		}
		c, err := s.auth.Authenticate(rq.ctx, tok)
		if err != nil {
			rq.fail(errorf(http.StatusUnauthorized, "The request you have made requires authentication."))
			return
		}
		rq.creds = c
	}
	if err := rq.negotiate(); err != nil {
		rq.fail(err)
		return
	}
	if isRoot {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET")
			rq.fail(errorf(http.StatusMethodNotAllowed, "The method specified is not allowed for this resource."))
			return
		}
		rq.json(http.StatusOK, versionDocument(), time.Time{})
		return
	}
	ep, params, err := match(r.Method, path, rq.v)
	if err != nil {
		rq.fail(err)
		return
	}
	rq.params = params
	if err := rq.authorize(ep.rule); err != nil {
		rq.fail(err)
		return
	}
	if err := ep.h(rq); err != nil {
		rq.fail(err)
	}
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
	segs    []string // "{x}" segments are parameters
	methods map[string]endpoint
}

var routes []route

func addRoute(pattern string, methods map[string]endpoint) {
	routes = append(routes, route{segs: strings.Split(strings.Trim(pattern, "/"), "/"), methods: methods})
}

// match finds the endpoint of method and path at version v: 404 when no
// route (or no method of it) exists at v, 405 when the path exists but not
// the method.
func match(method, path string, v placement.Version) (endpoint, map[string]string, error) {
	segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	for _, rt := range routes {
		if len(rt.segs) != len(segs) {
			continue
		}
		var params map[string]string
		ok := true
		for i, p := range rt.segs {
			if strings.HasPrefix(p, "{") {
				if segs[i] == "" {
					ok = false
					break
				}
				if params == nil {
					params = map[string]string{}
				}
				params[strings.Trim(p, "{}")] = segs[i]
			} else if p != segs[i] {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		var allow []string
		for m, ep := range rt.methods {
			if v.AtLeast(ep.min) {
				allow = append(allow, m)
			}
		}
		if len(allow) == 0 {
			break
		}
		m := method
		if m == http.MethodHead {
			m = http.MethodGet
		}
		ep, found := rt.methods[m]
		if found && v.AtLeast(ep.min) {
			return ep, params, nil
		}
		if found {
			break // the method exists at a later microversion
		}
		sort.Strings(allow)
		e := errorf(http.StatusMethodNotAllowed, "The method specified is not allowed for this resource.")
		e.allow = allow
		return endpoint{}, nil, e
	}
	return endpoint{}, nil, errorf(http.StatusNotFound, "The resource could not be found.")
}
