// Package agent is novakit's per-host compute agent: Nova's nova-compute.
// One [Agent] runs per host around a compute.Hypervisor driver. It
// registers and heartbeats its service, reports its node to the
// conductor and to placement (the resource tracker), serves the host's
// RPC queue "compute.<host>", runs every instance operation the driver
// can do under the instance state machine of compute.RuleFor, records
// instance action events and faults, keeps the database's power states
// in line with the hypervisor, and at start cleans up what a previous
// run left half-done.
//
// The agent never touches the database: it goes through the [Conductor]
// interface. [Client] is the RPC client the API and the conductor use to
// reach an agent.
package agent
