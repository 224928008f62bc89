// Package cloud is novakit's wiring layer: one Run function and one config
// struct per daemon of a multi-process cloud in the shape of OpenStack
// Nova — RunAPI (the Compute API, nova-api), RunConductor (nova-conductor),
// RunScheduler (nova-scheduler), RunCompute (nova-compute, one per host)
// and RunPlacement (placement-api) — each opening its database, queue and
// placement by URL, serving until its context ends and then draining.
//
// The libraries underneath (api, conductor, scheduler, compute/agent,
// store, queue, placement/client, store/placementstore) know nothing of
// each other's transports; this package is where they meet, exactly as
// examples/allinone wires them in one process, but with every service
// talking over the queue (RabbitMQ: amqp://…), the compute database
// (PostgreSQL or MySQL: postgres://…, mysql://…) and Placement (its REST
// API, http://…:8778, or its database directly). Commands under examples/
// are thin mains over these functions; an embedder calls them with its own
// compute.Hypervisor (ComputeConfig.Driver) or scheduler filters
// (SchedulerConfig.Registry).
//
// Every Run function:
//
//   - fails at once with a one-line error when it cannot start (database or
//     broker unreachable, port taken, bad setting);
//   - serves HTTP on Listen: GET /healthz (200 "ok", or 503 with the reason
//     when its database does not answer) and GET /metrics (Prometheus text
//     format: Go runtime, process and, for the API, request counts and
//     durations), logging "listening on ADDR" when ready and calling Ready;
//     with Common.Pprof, also Go's profiles under /debug/pprof/;
//   - on ctx cancellation stops taking work (HTTP and queue), lets what is in
//     flight finish within DrainTimeout, closes its connections and returns
//     nil.
//
// Run functions block; run several in one process with one goroutine each.
package cloud
