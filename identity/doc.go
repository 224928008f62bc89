// Package identity says who is calling: the [Credentials] of a validated
// token, the [Authenticator] interface HTTP front ends use to validate
// X-Auth-Token, and the context plumbing that carries credentials through
// a request and across RPC.
//
// Implementations (a Keystone v3 validator for real deployments, an
// embedded Keystone-compatible issuer for the all-in-one cloud, a no-auth
// mode for tests) live in this package and its sub-packages.
package identity
