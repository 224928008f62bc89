// Package api is the OpenStack Placement REST API (microversions 1.0–1.39)
// over any [Backend] (the method set of [placement.Index], which the SQL
// store's service and placement/client share), as an [http.Handler] built
// by [New], and [Serve], the library behind the examples/placement daemon.
//
// # Protocol
//
// Every response carries x-openstack-request-id. The microversion is
// negotiated from "OpenStack-API-Version: placement X.Y" (or "latest";
// absent means 1.0), echoed back with "Vary: OpenStack-API-Version"; an
// unparseable or unsupported version is 406 with min_version and
// max_version in the error. GET / is the unauthenticated version document.
// Errors have Placement's body
//
//	{"errors": [{"status", "title", "detail", "request_id", "code"}]}
//
// where code (placement.concurrent_update, placement.inventory.inuse, …,
// default placement.undefined_code) appears from 1.23. GETs send
// last-modified and cache-control: no-cache from 1.15. Request bodies must
// be application/json (415 otherwise), at most Options.MaxBodyBytes (413),
// and are validated member by member as Placement's JSON schemas do: invalid
// JSON, a wrong type, a missing required or an unknown member, a
// non-positive amount are 400 naming the field, never a 500.
//
// # Auth and policy
//
// X-Auth-Token is checked by the embedder's [identity.Authenticator] (a
// Keystone token validator in production; [NoAuth] mirrors Placement's
// noauth2, where the token "admin" has the admin role). A token the
// authenticator refuses (identity.ErrUnauthorized) is 401; any other
// failure (identity service unreachable) is 503. The credentials travel in
// the request context (identity.FromContext).
//
// Each route names a policy rule (placement:resource_providers:list, …).
// Options.PolicyDefaults selects Placement's legacy defaults
// ([PolicyLegacy]: everything is admin_api = role:admin) or its secure-RBAC
// defaults ([PolicySecureRBAC]: role:admin or role:service, a project
// reader for GET /usages of its own project, the service role for POST
// /reshaper, project-scoped tokens only); [DefaultCheckStrings] prints
// them. Rules are enforced by identity/policy, novakit's oslo.policy:
// Options.Policy overrides rules by name with check strings, or
// Options.Enforcer (from [NewEnforcer], with LoadFile for a policy.yaml)
// replaces the whole policy. A refusal is 403.
//
// # Operations
//
// GET /healthz answers "ok" without authentication (503 when the backend
// is a [Pinger] whose Ping fails). GET /metrics serves Prometheus metrics:
// placement_http_requests_total{route,method,status} and
// placement_http_request_duration_seconds{route,method}, route being the
// pattern ("/resource_providers/{uuid}"). With Options.Logger every request
// is logged through log/slog with its request id, the caller's global
// request id (an inbound X-Openstack-Request-Id of the form req-UUID), the
// route, status, duration, microversion, user and project.
//
// # Serving
//
// [Serve] runs the API on a listener until its context ends, logging
// "listening on ADDR" when ready, then drains requests in flight; a start
// that cannot bind fails at once with a one-line error. [DaemonConfig]
// and [ParseDaemonConfig] read novakit's daemon conventions (flags,
// NOVAKIT_* variables, a -config YAML file) and [DaemonConfig.ServeOptions]
// turns them into ServeOptions: examples/placement is a few lines over
// them, and an embedder builds the same daemon over another Backend.
//
// # Routes
//
// Resource providers, inventories, usages, traits, resource classes,
// aggregates, allocations (GET/PUT/DELETE per consumer, POST /allocations,
// per provider), GET /usages, POST /reshaper and GET /allocation_candidates,
// each with the request and response shapes of every microversion; see the
// Placement API reference. Routes that exist only from some microversion are
// 404 below it; a known path with an unsupported method is 405 with Allow.
//
// # CORS
//
// Options.CORS mirrors oslo.middleware's cors filter as Placement configures
// it: preflight OPTIONS requests from allowed origins are answered before
// authentication, and actual requests get Access-Control-Allow-Origin and
// the exposed headers (X-Auth-Token, X-Openstack-Request-Id,
// OpenStack-API-Version).
//
// Differences from Placement: PUT /resource_classes/{name} before 1.7
// renames a class in use only when the backend is a
// [ResourceClassRenamer] (placement.Index is not: there it renames unused
// classes and answers 409 for a class in use).
package api
