// Package agent is novakit's per-host compute agent: Nova's nova-compute.
// One [Agent] runs per host around a compute.Hypervisor driver. It never
// touches the database: records are read and written through the
// [Conductor] interface (conductor.Client over the queue, or
// conductor.Service in-process), resources go to placement through the
// [Placement] interface, and images through [Images].
//
// # Running
//
// [New] checks the [Options] (Nova's defaults: report every 10 s, 512 MB
// reserved host memory, initial allocation ratios 4.0/1.0/1.0, 10
// concurrent builds, power sync every 600 s, clean shutdown within 60 s)
// and [Agent.Run] runs until its context ends:
//
//   - it registers the service (host, "nova-compute") or finds it, and
//     heartbeats it every ReportInterval;
//   - the resource tracker ([Agent.UpdateResources], at start and every
//     ResourceInterval) stores the compute node record and keeps the
//     node's root resource provider in placement: VCPU, MEMORY_MB and
//     DISK_GB inventories with the reserved amounts and allocation ratios
//     (forced ones win; otherwise what placement has, or the initial ones
//     for a new provider), and the traits of the driver's capabilities
//     plus COMPUTE_NODE (and COMPUTE_STATUS_DISABLED while the service is
//     disabled), leaving traits set by others alone; generation conflicts
//     are re-read and retried;
//   - init_host brings every instance of the host to a steady state, as
//     Nova's _init_instance does (see below), re-attaches guests through
//     the driver's Recoverer, and destroys guests whose instances are
//     deleted or were evacuated away;
//   - it serves the queue "compute.<host>" (topic [Topic], server = host)
//     with the RPC methods [Client] sends;
//   - the power-state sync ([Agent.SyncPowerStates]) runs at start, every
//     PowerSyncInterval and, for drivers with lifecycle events, whenever
//     a guest changes.
//
// When the context ends, the agent stops taking messages and cancels the
// operations in flight; the next run's init_host cleans up what they
// left.
//
// # Operations
//
// Every operation runs under the instance's lock, records an instance
// action event "compute_<method>" (under the request id the message
// carries; see queue.RequestContext), and checks that the instance is in
// the task state the API set before casting (compute.RuleFor gives it):
// a repeated or stale message finds another state and does nothing.
// Writes are compare-and-swaps on the task state, so a delete that
// arrives while an operation runs wins: the operation's next write fails
// and the terminate, waiting on the lock, finishes the job.
//
// Failures record an instance fault. Power operations (stop, start,
// pause, unpause, suspend, resume), snapshots and shelving revert the
// task state; a failed reboot leaves the instance active if its guest
// still runs and in ERROR otherwise; failed deletes, rebuilds and
// resizes go to ERROR. A failed build is either rescheduled (the driver
// said the host lacks room, or anything not known to be the request's
// fault): the claim on this host is released and the build handed back
// to the conductor with its alternates ([Conductor.RescheduleInstance]);
// or aborted (bad input, unsupported request, unknown image): ERROR with
// a fault, claim released. Builds are bounded by MaxConcurrentBuilds.
//
// Resize and cold migration follow Nova's protocol across two agents:
// prep_resize on the destination, resize_instance on the source
// (migration migrating → post-migrating, instance moved to the
// destination), finish_resize on the destination (migration finished,
// instance resized); confirm_resize on the source drops its guest and
// the migration's allocation; revert_resize on the destination destroys
// its guest and finish_revert_resize on the source gives the allocation
// back to the instance and restarts the guest with the old flavor.
//
// # Restart
//
// At start an instance left building or rebuilding goes to ERROR with a
// fault; a pending delete is finished; an interrupted stop or start is
// done again; a reboot that was pending is retried (hard if it had
// started and the guest is down); a snapshot task is cleared; a resize
// interrupted while the source sent its disks is rolled back on the
// source, other interrupted resize steps go to ERROR; any other task is
// cleared and the power state refreshed.
package agent
