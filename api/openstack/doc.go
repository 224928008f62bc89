// Package openstack is the HTTP front end of novakit's compute API: the
// OpenStack Compute API v2.1 with microversions 2.1 to 2.96, in the shape
// the openstack CLI, novaclient and gophercloud expect.
//
// [New] returns a [Handler] (an http.Handler) over an *api.API and an
// identity.Authenticator:
//
//	h, err := openstack.New(openstack.Options{API: a, Authenticator: auth})
//	http.ListenAndServe("127.0.0.1:8774", h)
//
// The handler serves the version documents at / and /v2.1 without a
// token; everything under /v2.1/ (with or without a project id after it)
// goes through identity.Middleware. Microversions are negotiated from
// OpenStack-API-Version ("compute 2.X") or X-OpenStack-Nova-API-Version
// ("latest" is 2.96; no header is 2.1; out of range is 406); every API
// answer carries the version headers, Vary, and X-Compute-Request-Id /
// X-OpenStack-Request-ID. Errors use Nova's fault bodies
// ({"itemNotFound": {"code": 404, "message": …}}).
//
// Request bodies and query strings are checked with JSON schemas
// (github.com/santhosh-tekuri/jsonschema/v6) that vary by microversion as
// Nova's do: a bad field is a 400 naming it; unknown query parameters are
// ignored before 2.75 and refused from 2.75 where Nova refuses them.
// Policy is checked by the api package on every route with Nova's
// defaults (admin, project member, project reader), and a project never
// sees another project's servers.
//
// GET /healthz answers without a token; GET /metrics serves Prometheus
// metrics (requests by route pattern, method and status, and latency).
// Each request is logged once at Info with its request id and caller.
//
// Remote consoles answer 501 until the console proxies exist; nova-network
// era proxy APIs answer 404 or 410 as in Nova.
package openstack
