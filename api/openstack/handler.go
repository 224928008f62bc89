package openstack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/novakit/novakit/api"
	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/identity"
)

// MaxBodySize is Nova's osapi_max_request_body_size (112 KiB).
const MaxBodySize = 114688

// Options configure a [Handler].
type Options struct {
	// API is the Go-level compute API the handler calls. Required.
	API *api.API
	// Authenticator validates X-Auth-Token. Required; use
	// identity.NoAuth() for development.
	Authenticator identity.Authenticator
	// AuthURI is advertised in 401 answers (WWW-Authenticate).
	AuthURI string
	// PublicURL is the base URL of links in bodies
	// ("http://controller:8774"); default: taken from each request.
	PublicURL string
	// Logger receives one line per request at Info (method, path,
	// status, duration, request id, user, project) and 5xx causes at
	// Error; default slog.Default().
	Logger *slog.Logger
	// Registry receives the request metrics served at GET /metrics (nil:
	// a registry of the handler's own, with the Go and process
	// collectors).
	Registry *prometheus.Registry
}

// Handler is the OpenStack Compute API v2.1 over net/http: version
// documents at / and /v2.1, microversions 2.1–2.96, Nova's error bodies,
// request ids, JSON-schema validation of bodies and query strings, auth
// through identity.Middleware and policy through the api package. It is
// safe for concurrent use.
type Handler struct {
	api     *api.API
	log     *slog.Logger
	public  string
	mux     *http.ServeMux
	authed  http.Handler
	schemas *schemas
	metrics *metrics
}

// New returns a Handler over opts.
func New(opts Options) (*Handler, error) {
	if opts.API == nil {
		return nil, fmt.Errorf("openstack: Options.API is required: %w", compute.ErrInvalidInput)
	}
	if opts.Authenticator == nil {
		return nil, fmt.Errorf("openstack: Options.Authenticator is required (identity.NoAuth() for development): %w", compute.ErrInvalidInput)
	}
	h := &Handler{api: opts.API, log: opts.Logger, public: strings.TrimRight(opts.PublicURL, "/"), mux: http.NewServeMux()}
	if h.log == nil {
		h.log = slog.Default()
	}
	h.schemas = &schemas{fns: schemaTable()}
	h.metrics = newMetrics(opts.Registry)
	h.routes()
	h.authed = identity.Middleware(opts.Authenticator, identity.MiddlewareOptions{AuthURI: opts.AuthURI})(http.HandlerFunc(h.serveAPI))
	return h, nil
}

// reqInfo is what a route handler knows about its request.
type reqInfo struct {
	v         Version
	base      string // scheme://host
	project   string // project id in the URL, "" when absent
	rid       string
	creds     *identity.Credentials
	inURLProj bool
}

type reqInfoKey struct{}

// routeKey carries the *reqLog the router fills in: the matched pattern
// (the metrics' route label) and the caller (for the request log).
type routeKey struct{}

type reqLog struct{ route, user, project string }

func info(r *http.Request) *reqInfo { return r.Context().Value(reqInfoKey{}).(*reqInfo) }

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w}
	rl := &reqLog{route: "other"}
	h.serve(sw, r, rl)
	if sw.status == 0 {
		sw.status = http.StatusOK
	}
	d := time.Since(start)
	h.metrics.observe(rl.route, r.Method, sw.status, d)
	if !h.log.Enabled(r.Context(), slog.LevelInfo) {
		return
	}
	attrs := []any{"method", r.Method, "path", r.URL.Path, "status", sw.status, "duration", d,
		"request_id", sw.Header().Get("X-OpenStack-Request-ID")}
	if rl.user != "" {
		attrs = append(attrs, "user", rl.user, "project", rl.project)
	}
	h.log.Info("compute api request", attrs...)
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request, rl *reqLog) {
	route := &rl.route
	rid := api.NewRequestID()
	w.Header().Set("X-Compute-Request-Id", rid)
	w.Header().Set("X-OpenStack-Request-ID", rid)
	ctx := api.WithRequestID(r.Context(), rid)
	r = r.WithContext(ctx)
	p := r.URL.Path
	switch {
	case p == "/healthz":
		*route = "/healthz"
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	case p == "/metrics":
		*route = "/metrics"
		h.metrics.handler.ServeHTTP(w, r)
	case p == "/" || p == "":
		*route = "/"
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			writeFault(w, http.StatusMethodNotAllowed, "The method is not allowed for this resource.")
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"versions": []any{h.v20Doc(r), h.v21Doc(r, false)}})
	case p == "/v2.1" || p == "/v2.1/" || p == "/v2" || p == "/v2/":
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			writeFault(w, http.StatusMethodNotAllowed, "The method is not allowed for this resource.")
			return
		}
		if strings.HasPrefix(p, "/v2.1") {
			writeJSON(w, http.StatusOK, map[string]any{"version": h.v21Doc(r, true)})
		} else {
			writeJSON(w, http.StatusOK, map[string]any{"version": h.v20Doc(r)})
		}
	case strings.HasPrefix(p, "/v2.1/") || strings.HasPrefix(p, "/v2/"):
		h.authed.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), routeKey{}, rl)))
	default:
		writeJSON(w, http.StatusMultipleChoices, map[string]any{"choices": []any{
			map[string]any{"id": "v2.1", "status": "CURRENT", "links": []any{map[string]string{"href": h.baseURL(r) + "/v2.1" + p, "rel": "self"}},
				"media-types": []any{map[string]string{"base": "application/json", "type": "application/vnd.openstack.compute+json;version=2.1"}}},
		}})
	}
}

func (h *Handler) baseURL(r *http.Request) string {
	if h.public != "" {
		return h.public
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if p := r.Header.Get("X-Forwarded-Proto"); p != "" {
		scheme = p
	}
	host := r.Host
	if fh := r.Header.Get("X-Forwarded-Host"); fh != "" {
		host = fh
	}
	return scheme + "://" + host
}

func (h *Handler) v21Doc(r *http.Request, full bool) map[string]any {
	d := map[string]any{
		"id": "v2.1", "status": "CURRENT", "version": MaxVersion.String(), "min_version": MinVersion.String(),
		"updated": "2013-07-23T11:33:21Z",
		"links":   []any{map[string]string{"href": h.baseURL(r) + "/v2.1/", "rel": "self"}},
	}
	if full {
		d["links"] = []any{
			map[string]string{"href": h.baseURL(r) + "/v2.1/", "rel": "self"},
			map[string]string{"href": "http://docs.openstack.org/", "rel": "describedby", "type": "text/html"},
		}
		d["media-types"] = []any{map[string]string{"base": "application/json", "type": "application/vnd.openstack.compute+json;version=2.1"}}
	}
	return d
}

func (h *Handler) v20Doc(r *http.Request) map[string]any {
	return map[string]any{
		"id": "v2.0", "status": "DEPRECATED", "version": "", "min_version": "", "updated": "2025-07-04T12:00:00Z",
		"links": []any{map[string]string{"href": h.baseURL(r) + "/v2/", "rel": "self"}},
	}
}

// topLevel are the first path segments that are collections (not a
// project id) after the version prefix.
var topLevel = map[string]bool{
	"servers": true, "flavors": true, "os-keypairs": true, "limits": true, "os-quota-sets": true,
	"os-availability-zone": true, "os-server-groups": true, "os-services": true, "os-hypervisors": true,
	"os-migrations": true, "os-aggregates": true, "os-console-auth-tokens": true, "images": true,
	"extensions": true, "os-simple-tenant-usage": true, "os-quota-class-sets": true, "os-hosts": true,
	"os-networks": true, "os-volumes": true, "os-snapshots": true, "os-security-groups": true,
	"os-floating-ips": true, "os-instance_usage_audit_log": true, "os-server-external-events": true,
	"os-assisted-volume-snapshots": true, "os-tenant-networks": true, "os-volumes_boot": true,
	"os-fping": true, "os-cloudpipe": true, "os-certificates": true, "os-agents": true, "os-cells": true,
	"os-fixed-ips": true, "os-floating-ips-bulk": true, "os-floating-ip-dns": true,
	"os-security-group-default-rules": true,
}

func (h *Handler) serveAPI(w http.ResponseWriter, r *http.Request) {
	ri := &reqInfo{rid: api.RequestID(r.Context()), base: h.baseURL(r)}
	ri.creds, _ = identity.FromContext(r.Context())
	// Microversion.
	w.Header().Set("Vary", "OpenStack-API-Version, X-OpenStack-Nova-API-Version")
	ri.v = MinVersion
	if s, ok := requestedVersion(r.Header.Values("OpenStack-API-Version"), r.Header.Get("X-OpenStack-Nova-API-Version")); ok {
		v, err := ParseVersion(s)
		if err != nil {
			writeFault(w, http.StatusBadRequest, err.Error())
			return
		}
		if v.Less(MinVersion) || MaxVersion.Less(v) {
			writeFault(w, http.StatusNotAcceptable, fmt.Sprintf("Version %s is not supported by the API. Minimum is %s and maximum is %s.", v, MinVersion, MaxVersion))
			return
		}
		ri.v = v
	}
	w.Header().Set("OpenStack-API-Version", "compute "+ri.v.String())
	w.Header().Set("X-OpenStack-Nova-API-Version", ri.v.String())
	// Prefix and project id.
	rest := strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, "/v2.1"), "/v2")
	segs := strings.SplitN(strings.TrimPrefix(rest, "/"), "/", 2)
	if len(segs) > 0 && segs[0] != "" && !topLevel[segs[0]] {
		ri.project, ri.inURLProj = segs[0], true
		rest = "/"
		if len(segs) > 1 {
			rest += segs[1]
		}
		if ri.creds == nil || ri.creds.ProjectID != ri.project {
			cp := ""
			if ri.creds != nil {
				cp = ri.creds.ProjectID
			}
			writeFault(w, http.StatusBadRequest, fmt.Sprintf("Malformed request URL: URL's project_id '%s' doesn't match Context's project_id '%s'", ri.project, cp))
			return
		}
	}
	if rest == "" {
		rest = "/"
	}
	// A shallow copy with its own URL: the routes only read the headers
	// (r.Clone would copy them for every request).
	r2 := r.WithContext(context.WithValue(r.Context(), reqInfoKey{}, ri))
	u := *r.URL
	r2.URL = &u
	r2.URL.Path = strings.TrimSuffix(rest, "/")
	if r2.URL.Path == "" {
		r2.URL.Path = "/"
	}
	r2.URL.RawPath = ""
	_, pattern := h.mux.Handler(r2)
	if rl, ok := r.Context().Value(routeKey{}).(*reqLog); ok {
		if pattern != "" {
			rl.route = pattern
		}
		if ri.creds != nil {
			rl.user, rl.project = ri.creds.UserID, ri.creds.ProjectID
		}
	}
	if pattern == "" {
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete} {
			r3 := r2.Clone(r2.Context())
			r3.Method = m
			if _, p := h.mux.Handler(r3); p != "" {
				writeFault(w, http.StatusMethodNotAllowed, "The method is not allowed for this resource.")
				return
			}
		}
		writeFault(w, http.StatusNotFound, "The resource could not be found.")
		return
	}
	defer func() {
		if p := recover(); p != nil {
			h.log.Error("openstack: panic serving request", "request_id", ri.rid, "path", r.URL.Path, "panic", p)
			writeFault(w, http.StatusInternalServerError, messageOf(errors.New("panic"), 500))
		}
	}()
	h.mux.ServeHTTP(w, r2)
}

// fail writes the fault for err.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	code := statusOf(err)
	switch {
	case code == http.StatusServiceUnavailable:
		h.log.Warn("openstack: backend unavailable", "request_id", api.RequestID(r.Context()), "method", r.Method, "path", r.URL.Path, "err", err)
	case code >= 500 && code != http.StatusNotImplemented:
		h.log.Error("openstack: request failed", "request_id", api.RequestID(r.Context()), "method", r.Method, "path", r.URL.Path, "err", err)
	}
	writeFault(w, code, messageOf(err, code))
}

// body reads, parses and schema-checks the request body, then decodes it
// into out (when not nil). It returns the parsed document.
func (h *Handler) body(r *http.Request, schema string, out any) (any, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return nil, &statusError{code: http.StatusUnsupportedMediaType, msg: "Unsupported Content-Type"}
		}
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, MaxBodySize+1))
	if err != nil {
		return nil, &api.BadRequestError{Message: "Malformed request body"}
	}
	if len(raw) > MaxBodySize {
		return nil, &statusError{code: http.StatusRequestEntityTooLarge, msg: "Request is too large."}
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, &api.BadRequestError{Message: "The request body is empty or malformed."}
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, &api.BadRequestError{Message: "Malformed request body"}
	}
	if schema != "" {
		if err := h.schemas.validate(schema, info(r).v, doc); err != nil {
			return nil, err
		}
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return nil, &api.BadRequestError{Message: "Malformed request body: " + err.Error()}
		}
	}
	return doc, nil
}

// query schema-checks the query string.
func (h *Handler) query(r *http.Request, schema string) error {
	return h.schemas.validate(schema, info(r).v, queryDoc(r.URL.Query()))
}

type statusError struct {
	code int
	msg  string
}

func (e *statusError) Error() string { return e.msg }

// failAny writes err, honouring a *statusError's code.
func (h *Handler) failAny(w http.ResponseWriter, r *http.Request, err error) {
	var se *statusError
	if errors.As(err, &se) {
		writeFault(w, se.code, se.msg)
		return
	}
	h.fail(w, r, err)
}

// link builds the self and bookmark links of a resource path such as
// "servers/<id>".
func (ri *reqInfo) links(path string) []any {
	proj := ""
	if ri.inURLProj {
		proj = "/" + ri.project
	}
	return []any{
		map[string]string{"href": ri.base + "/v2.1" + proj + "/" + path, "rel": "self"},
		map[string]string{"href": ri.base + proj + "/" + path, "rel": "bookmark"},
	}
}

func (ri *reqInfo) bookmark(path string) []any {
	proj := ""
	if ri.inURLProj {
		proj = "/" + ri.project
	}
	return []any{map[string]string{"href": ri.base + proj + "/" + path, "rel": "bookmark"}}
}

func (ri *reqInfo) url(path string) string {
	proj := ""
	if ri.inURLProj {
		proj = "/" + ri.project
	}
	return ri.base + "/v2.1" + proj + "/" + path
}

func (ri *reqInfo) isAdmin() bool { return ri.creds != nil && ri.creds.IsAdmin() }
