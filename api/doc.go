// Package api is novakit's front door: the Go-level compute API (what
// Nova's nova/compute/api.py does) that checks policy, validates requests,
// applies quotas, writes the records in the store and hands work on to the
// conductor and the compute agents. The HTTP front end, the OpenStack
// Compute API v2.1 with microversions, is in package api/openstack.
//
// # Wiring
//
// [New] takes the store and the consumer-side interfaces this package
// declares — [Conductor] (conductor.Client or conductor.Service), [Agent]
// (agent.Client of compute/agent), [Images] (image.Store or
// image/glance.Client) — plus a [Policy] (Nova's defaults when nil):
//
//	a, err := api.New(api.Options{Store: st, Conductor: cc, Agent: ac, Images: im, Placement: pl})
//
// Placement (optional: anything with DeleteAllocations, such as
// placement.Index or placement/client.Client) lets a local delete drop a
// claim the scheduler made. Policy defaults to [DefaultPolicy] (Go
// checks); [NewEnforcerPolicy] gives the same defaults through
// identity/policy, where operators override rules with policy.yaml check
// strings.
//
// # Callers, policy and projects
//
// Every method takes the caller from the context ([identity.FromContext]).
// Rules are named as Nova's policy files name them ([RuleServersCreate]…)
// and default to Nova's personas: admin, project member, project reader.
// A non-admin never sees another project's servers: they are reported as
// not found, as Nova's project-scoped lookups do.
//
// # State changes
//
// Each server action is checked against compute's action table
// (compute.CheckAction: allowed vm and task states, lock rules), then the
// rule's task state is written with a compare-and-swap (a racing action
// gets a conflict), the instance action is recorded under the request id
// ([WithRequestID]), and only then the work is cast. When the cast fails
// the task state is put back.
//
// Errors satisfy errors.Is with compute's sentinels (ErrNotFound,
// ErrInvalidInput, ErrConflict, ErrInvalidState, ErrLocked,
// ErrQuotaExceeded, ErrUnavailable, ErrUnsupported) or [ErrForbidden]; the
// HTTP layer maps them to Nova's status codes and fault bodies.
package api
