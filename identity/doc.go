// Package identity says who is calling: the [Credentials] of a validated
// token, the [Authenticator] interface HTTP front ends use to validate
// X-Auth-Token, the context plumbing that carries credentials through a
// request and across RPC, and [Middleware], the net/http auth filter
// (401 with Keystone's WWW-Authenticate, 503 when the validator is
// unreachable).
//
// Implementations: [NoAuth] (tokens "user[:project]", for tests and
// development), identity/keystone (a validator for a real Keystone v3)
// and identity/embedded (a Keystone-v3-compatible issuer and validator
// for the all-in-one cloud). identity/policy decides what a caller may
// do, oslo.policy-style.
package identity
