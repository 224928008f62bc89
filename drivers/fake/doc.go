// Package fake is an in-memory hypervisor: many simulated hosts in one
// process, each a [compute.Hypervisor] with every optional interface, for
// tests, benchmarks, examples and the all-in-one cloud (Nova's
// nova/virt/fake.py). Application code talks to it through the compute
// agent like to any driver; see package compute for the contract.
//
// # Hosts
//
// A [Cloud] holds the hosts: [New] with a [Config], or [Open] with a URL
// such as "fake://?hosts=64&vcpus=8&memory_mb=16384&disk_gb=100". Hosts are
// named host1…hostN (or as configured), default to Nova's fake size (1000
// vCPUs, 800000 MB, 600000 GB), and have node UUIDs derived from their
// names ([NodeUUID]), so runs are reproducible. Hosts find each other
// through their Cloud for cold and live migrations.
//
// # Honest state
//
// Each guest has a power state machine (running, shut down, paused,
// suspended, crashed) with the transitions and errors the contract states;
// a spawn on a host without room fails with
// compute.ErrResourcesUnavailable naming the resource; usage follows the
// flavors of the guests (and of migrations not yet confirmed); console
// output is Nova's fake text, one block per boot; console endpoints are on
// 127.0.0.1 (nothing listens). [Host.SetPowerState] changes a guest behind
// the agent's back, as a crash or a shutdown from inside the guest would.
//
// # Determinism and speed
//
// The clock is injectable ([Config.Now]): CPU time and event times follow
// it. Nothing random is used. A spawn takes well under a microsecond and a
// guest a few hundred bytes, so one process holds 10,000 hosts with 10
// guests each (see the benchmarks).
//
// # Failure injection
//
// [Cloud.Inject] adds a [Fault] at run time: for one host or all, one
// method or all, fail the Nth call or every call with a given error (before
// the operation, or after it took effect), delay it, or panic. Faults are
// safe to add and remove while calls run; an [Injection] counts the calls
// it saw. Mark an injected error with compute.Transient to make it
// retryable.
package fake
