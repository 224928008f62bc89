// Package keystone validates tokens against a real Keystone v3, as
// keystonemiddleware's auth_token does: a [Validator] logs in with
// service credentials (password method, project-scoped) to get a service
// token, checks each user token with GET /v3/auth/tokens and
// X-Subject-Token, and keeps validations in a bounded LRU cache for at
// most CacheTTL and never past the token's expiry (so a token revoked in
// Keystone may be accepted until its cache entry lapses, as with
// keystonemiddleware). Tokens Keystone refused are cached as invalid the
// same way.
//
// Errors are typed: an invalid token wraps identity.ErrUnauthorized (401
// at the front end); Keystone unreachable or failing wraps
// [ErrUnavailable] (503).
package keystone
