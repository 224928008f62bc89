// Package novakit is a Go module for building compute clouds in the
// shape of OpenStack Nova: an API that takes requests, a conductor that
// orchestrates, a scheduler and a placement service that pick hosts and
// account for capacity, compute agents that drive hypervisors, a message
// queue between them and a SQL database under them. It speaks
// OpenStack's wire protocols, so the openstack CLI and gophercloud work
// against it unchanged.
//
// This root package holds no code; the pieces are packages that compose
// through small interfaces, each declared where it is used:
//
//   - [github.com/novakit/novakit/compute]: the domain (instances, flavors,
//     services, nodes, migrations, groups, aggregates, request specs,
//     vm/task/power states and the one action table, domain errors) and
//     the Hypervisor contract drivers implement; compute/agent is the
//     per-host compute service, compute/computetest the conformance suite.
//   - [github.com/novakit/novakit/conductor]: build, reschedule, resize,
//     migrate, evacuate, unshelve flows and the recovery pass; the only
//     writer of records on behalf of agents.
//   - [github.com/novakit/novakit/scheduler]: Nova's filters and weighers
//     over placement's allocation candidates, with claims and alternates.
//   - [github.com/novakit/novakit/placement]: providers, inventories,
//     allocations, traits, aggregates and allocation candidates in an
//     exact in-memory index; placement/api is the REST API,
//     placement/client a client with the same method set, and
//     store/placementstore the SQL-backed service several processes share.
//   - [github.com/novakit/novakit/api]: the Go-level compute API (policy,
//     quotas, records, hand-off) and api/openstack, the Compute API v2.1
//     with microversions.
//   - [github.com/novakit/novakit/identity] (Keystone validation, an
//     embedded issuer, policy) and [github.com/novakit/novakit/image] (an
//     embedded Glance-compatible store, a Glance client).
//   - [github.com/novakit/novakit/store] and
//     [github.com/novakit/novakit/queue]: the SQL records (SQLite,
//     PostgreSQL, MariaDB) and RPC on Watermill (mem://, amqp://).
//   - drivers/fake and drivers/libvirt: hypervisor drivers.
//
// A service is wired by opening a store and a queue by URL and handing
// them to the service's constructor; package cloud does that for each
// reference daemon, and `go run ./examples/allinone` runs the whole cloud
// in one process.
package novakit
