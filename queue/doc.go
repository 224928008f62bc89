// Package queue gives novakit's services RPC with oslo.messaging's semantics
// (call, cast, fanout, per-host topics, timeouts, versioned envelopes) and
// Nova-style versioned notifications, built on Watermill.
//
// # Transports
//
// A [Transport] is opened by URL or by constructor:
//
//	tr, err := queue.Open(ctx, "mem://")                               // in-process
//	tr, err := queue.Open(ctx, "amqp://guest:guest@127.0.0.1:5672/")   // RabbitMQ
//	tr, err := queue.NewAMQP(queue.AMQPConfig{URL: …, ChannelPoolSize: 32})
//
// [URLMux] is the scheme registry (a value; [Open] uses a fresh
// [DefaultURLMux]). mem:// keeps its queues in the process, with the same
// routing, acknowledgement and redelivery rules as AMQP; amqp:// uses
// watermill-amqp with persistent messages on durable queues and publisher
// confirms, and reconnects by itself after a broker restart.
//
// # RPC
//
// A [Server] listens on a topic ("scheduler", "compute"): on the shared
// queue "<topic>" (competing consumers), on "<topic>.<server>" (one host)
// and on its own fanout queue. Handlers are registered per method, typed
// with [Handle]:
//
//	srv, _ := tr.NewServer(queue.ServerConfig{Topic: "compute", Server: "host1", Version: "6.5"})
//	queue.Handle(srv, "get_console_output", func(ctx context.Context, a ConsoleArgs) (string, error) { … })
//	srv.Start(ctx)
//	defer srv.Stop(ctx) // stops taking work, drains handlers in flight
//
// A [Client] calls and casts:
//
//	c, _ := tr.NewClient(queue.ClientConfig{Errors: codes})
//	err := c.Cast(ctx, queue.Target{Topic: "compute", Server: "host1", Version: "6.0"}, "build_and_run_instance", args)
//	err = c.Call(ctx, queue.Target{Topic: "scheduler"}, "select_destinations", spec, &hosts)
//
// Cast returns once the backend holds the message (durably and confirmed on
// AMQP) and delivers it at least once: handlers must be idempotent, and can
// deduplicate on [Delivery].MessageID. Call waits for the reply until ctx's
// deadline (or ClientConfig.Timeout, 60 s by default); a missing reply is an
// error matching [ErrTimeout]. Errors returned by remote handlers come back
// as [*RemoteError] wrapping the sentinel the [ErrorCodes] registry maps
// their code to, so errors.Is(err, compute.ErrNotFound) works across
// processes once both sides register the code. Unknown methods and
// incompatible RPC API versions are the typed [ErrUnknownMethod] and
// [ErrUnsupportedVersion]; a panicking handler answers [ErrRemotePanic].
//
// The caller's [RequestContext] (user, project, roles, request ids) and W3C
// [TraceContext] travel with every message: set them with
// [WithRequestContext] and [WithTraceContext], read them in handlers with
// [RequestContextFrom] and [TraceContextFrom].
//
// # Wire format
//
// Every message is a JSON [Envelope] with a format version ("v":1); see its
// documentation. Queue names: work queues "<topic>" and "<topic>.<server>"
// (durable), replies "reply_<client id>", fanout exchange "<topic>_fanout"
// with one transient queue per server; notifications
// "versioned_notifications.info" and ".error". The Watermill topics that map
// to them are: the queue name itself, "fanout:<topic>" (publish to the fanout
// exchange) and "fanout:<topic>:<id>" (consume a fanout queue).
//
// # Notifications
//
// A [Notifier] publishes [Notification]s (event type, publisher id,
// priority, timestamp, message id, and a versioned [Payload]) and
// [Transport.ListenNotifications] consumes them.
//
// # Building on Watermill
//
// Servers and notification listeners are Watermill message.Router handlers
// with stock middleware (Recoverer around handlers, Timeout when
// ServerConfig.HandlerTimeout is set); [Transport.Publisher] and
// [Transport.Subscriber] expose the Watermill publisher and subscriber for
// embedders who add their own routers or components (outbox forwarder,
// poison queue…) on the same connections.
package queue
