// Package novakit is a Go module for building compute clouds in the
// shape of OpenStack Nova: an API that takes requests, a conductor that
// orchestrates, a scheduler and a placement service that pick hosts and
// account for capacity, compute agents that drive hypervisors, a message
// queue between them and a SQL database under them. It speaks
// OpenStack's wire protocols, so the openstack CLI and gophercloud work
// against it unchanged.
//
// This root package holds no code; the pieces are packages that compose
// through small interfaces:
//
//   - [github.com/novakit/novakit/compute]: the domain. Instances,
//     flavors, services, compute nodes, migrations, server groups,
//     aggregates, request specs; the vm_state/task_state/power_state model
//     and its API status; the one table of which action is allowed in
//     which state; the domain errors. It imports only the standard
//     library, so everything else can depend on it.
//   - [github.com/novakit/novakit/store]: the records in SQL through ent:
//     SQLite by default, PostgreSQL and MySQL/MariaDB for scale, opened by
//     URL, migrated on open, with compare-and-swap instance updates and
//     Nova's listing semantics.
//   - [github.com/novakit/novakit/queue]: RPC with oslo.messaging's
//     semantics (call, cast, fanout, per-host topics, typed remote errors,
//     versioned envelopes) and notifications, on Watermill: in memory
//     (mem://) or on RabbitMQ (amqp://).
//
// A service is wired by opening a store and a queue by URL and handing
// them to the service's constructor; the services never import each
// other, only the interfaces they declare. examples/ holds runnable
// programs; `go run ./examples/roundtrip` opens the default store and
// queue and drives an instance through a stop over RPC.
package novakit
