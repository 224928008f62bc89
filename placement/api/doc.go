// Package api is the OpenStack Placement REST API (microversions 1.0–1.39)
// over a [placement.Index], as an [http.Handler] built by [New].
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
// X-Auth-Token is checked by the embedder's [Authenticator] (a Keystone
// token validator in production; [NoAuth] mirrors Placement's noauth2, where
// the token "admin" has the admin role). Each route names a policy rule
// (placement:resource_providers:list, …); [DefaultPolicy] holds Placement's
// legacy defaults (everything is admin_api = role:admin) and Options.Policy
// overrides rules by name. A refusal is 403.
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
// (rename) is refused with 400; the secure-RBAC policy defaults are not
// provided yet (override rules through Options.Policy).
package api
