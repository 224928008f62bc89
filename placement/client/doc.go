// Package client is a Go client of the OpenStack Placement API — novakit's
// placement/api or OpenStack's own — with the method set of
// *placement.Index, so that the scheduler, the conductor, the resource
// tracker or placement/api itself can work against a remote Placement with
// no adapter: same signatures, same typed errors (a 409
// placement.concurrent_update is placement.ErrGenerationConflict or
// ErrConsumerGenerationConflict, a 404 is placement.ErrNotFound, …).
//
// The client negotiates microversion 1.39 (or the server's newest, down to
// 1.28), sends X-Auth-Token from a [TokenSource] (renewed once on a 401
// when it is a [TokenInvalidator]) and a request id per call,
// reuses connections, and honours context cancellation. [CandidateQuery]
// renders a placement.CandidateRequest as the query string Placement
// parses.
//
// Differences from the in-process Index, all consequences of HTTP:
// a CandidateRequest's Seed does not travel (the server draws its own),
// CandidateResult.Truncated is inferred from the limit, SetInventories'
// over-capacity list comes from a usages read after the write, provider
// timestamps come from Last-Modified (whole seconds), one SetAllocations
// cannot mix consumers with and without SkipGenerationCheck, and an error's
// Field is empty (the server's detail names the field).
package client
