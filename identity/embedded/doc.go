// Package embedded is a Keystone-v3-compatible identity service for the
// all-in-one cloud: an [Issuer] that is at once an http.Handler speaking
// the Identity v3 subset keystoneauth and the openstack CLI use, and an
// identity.Authenticator for services running in the same process.
//
// Users, projects, domains, roles, role assignments and the service
// catalog come from a [Config] (built in Go, e.g. with [AllInOne] and
// [Config.AddService], or read with [LoadConfig]); passwords are kept as
// bcrypt hashes. Nothing is created or changed through the API.
//
// Routes: GET / (300, version list) and GET /v3 (version document);
// POST /v3/auth/tokens (methods password — user by id, or by name and
// domain — and token; scope project by id or by name and domain, domain,
// system "all", or unscoped; ?nocatalog), answering 201 with
// X-Subject-Token and the token body (methods, user, project/domain/
// system, roles with implied roles, catalog, expires_at, issued_at,
// audit_ids); GET, HEAD and DELETE /v3/auth/tokens with X-Subject-Token
// (validate, check, revoke); GET /v3/auth/{catalog,projects,domains,system};
// GET /v3/users[/{id}[/projects]], /v3/projects[/{id}], /v3/domains[/{id}],
// /v3/roles[/{id}], /v3/role_assignments, /v3/services, /v3/endpoints,
// /v3/regions. Listing others' records needs the admin role. Errors use
// Keystone's body {"error": {"code", "title", "message"}}.
//
// Tokens are self-contained: the caller's identity, scope, roles, expiry
// and audit ids, encrypted and authenticated with AES-256-GCM under the
// first configured key (any configured key decrypts, for rotation). Any
// process holding a key validates tokens with [NewValidator] and no
// shared state. Revocation is the exception: the revocation list lives in
// the Issuer's memory, so a revoked token stays revoked only in that
// process and only until it restarts (tokens expire after Config.TokenTTL,
// one hour by default).
package embedded
