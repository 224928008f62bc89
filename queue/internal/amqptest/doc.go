// Package amqptest holds the tests and benchmarks of the amqp:// transport
// against a real RabbitMQ started by internal/testsvc: the queuetest
// conformance suite (restart and kill included), Watermill's
// tests.TestPubSub on the publisher/subscriber pair, and the AMQP
// benchmarks. It is a separate package so that the queue package's own
// tests need no broker and do not link the test-service helpers.
package amqptest
