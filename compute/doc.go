// Package compute is novakit's domain: the records a Nova-shaped cloud
// keeps (instances, flavors, key pairs, services, compute nodes,
// migrations, server groups, aggregates, request specs, instance actions
// and faults), the instance state model, and the domain errors.
//
// It is a leaf package: it imports nothing but the standard library, so
// that drivers, stores and front ends can all depend on it.
//
// # The state model
//
// An instance's [VMState] is what it is (active, stopped, resized…) and its
// [TaskState] what is being done to it (powering-off, spawning…); its
// [PowerState] is what the hypervisor last reported. [Status] derives the
// compute API's status from the first two, and [StatesForStatus] reverses
// it for list filters.
//
// Which action is allowed in which state is one table, reached through
// [CheckAction] and [RuleFor]. A rule also says which task state the API
// sets before it hands the work on; [Rule.Transition] turns it into the
// compare-and-swap [InstanceUpdate] the store applies. Two callers that
// race for the same instance both pass the check; only one wins the swap,
// and the other gets a [*StateConflictError].
//
// # Drivers
//
// A hypervisor driver implements [Hypervisor]: a small, context-first
// interface in these domain types, one value per host. What not every
// driver can do is an optional interface found by type assertion
// ([Snapshotter], [ColdMigrator], [LiveMigrator], [Rescuer],
// [ConsoleProvider], [VolumeAttacher], [InterfaceAttacher], [Recoverer],
// [EventSource]), and a driver declares what it offers in its
// [Capabilities], which also become the host's COMPUTE_* traits. Spawn
// returns an opaque, versioned [Handle] that the agent stores and hands
// back after a restart. Drivers never retry: they classify their errors
// (see [Classify]) and return [ErrTransient] only when the hypervisor did
// nothing. Package compute/computetest is the conformance suite every
// driver passes; drivers/fake is the reference implementation.
//
// # Errors
//
// Errors are values with meaning: every error novakit returns for a
// missing record, a lost race, a refused state, a bad input or a missing
// feature satisfies errors.Is with [ErrNotFound], [ErrConflict],
// [ErrInvalidState], [ErrInvalidInput] or [ErrUnsupported]; typed errors
// ([*NotFoundError], [*StateConflictError], [*InvalidStateError],
// [*InvalidInputError]) carry the details.
package compute
