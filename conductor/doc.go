// Package conductor is novakit's nova-conductor: it owns the multi-step
// flows between the API, the scheduler, placement and the compute agents
// (build with reschedules, resize and cold migration, rebuild and
// evacuate, unshelve), and it is the agents' only way to the database.
//
// # Pieces
//
// [Service] runs the flows in-process over a *store.Store, a [Scheduler]
// (scheduler.Scheduler, or its queue client), a [Placement] (the subset
// of *placement.Index the conductor uses) and an [Agent] (agent.Client:
// the casts to compute.<host>). [Register] and [Serve] put a Service on
// the queue topic "conductor"; [Client] is the same method set over the
// queue, for the API (casts for build, rebuild and unshelve, a call for
// migrate) and for the agents (calls for every record operation, a cast
// for reschedules). [RegisterErrors] makes the compute sentinels survive
// RPC, including lost compare-and-swaps ([ErrStateConflict] satisfies
// errors.Is with compute.ErrConflict and compute.ErrInvalidState).
//
// # Flows (nova.md §3)
//
// Build: the scheduler picks and claims a host per instance and returns
// alternates; the conductor stores the request spec with the attempt,
// sets host and node (task_state stays scheduling, as in Nova) and casts
// BuildAndRunInstance with the alternates. A failed build comes back
// through RescheduleInstance: the next alternate's allocation request is
// claimed (a failed claim skips to the next one) and the build is cast
// there, up to Config.MaxAttempts hosts. No host at all, or no attempt
// left: vm_state ERROR, a fault ("No valid host was found. …" or
// "Exceeded maximum number of retries. …"), the action event failed and
// the allocations released.
//
// Resize and cold migrate: a migration record (pre-migrating) keyed by
// the request id, the instance's allocations moved to the migration's
// consumer, the scheduler's claim of the new flavor on the destination
// under the instance, then PrepResize to the destination; the agents do
// the rest (migrating, post-migrating, finished; confirm or revert).
// Evacuate: the source's compute service must be down; an evacuation
// record (accepted), a destination from the scheduler, the instance
// holding source and destination allocations, RebuildInstance on the new
// host. Unshelve of an offloaded instance is scheduled again.
//
// # Crashes
//
// The conductor keeps nothing in memory between steps: every step is a
// compare-and-swap on the instance or migration state, or an idempotent
// placement write, and migration uuids derive from request ids, so a
// repeated request finds what the first one did. [Service.Recover]
// finishes what a dead conductor left behind: builds still scheduling go
// to ERROR with their allocations released, resizes still pre-migrating
// are rolled back (allocations moved back, destination claim dropped),
// evacuations still accepted are rolled back to the source, offloaded
// instances still unshelving go back to shelved_offloaded. A test kills a
// conductor process with SIGKILL mid-flow to prove it.
package conductor
