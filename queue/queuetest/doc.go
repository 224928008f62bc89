// Package queuetest is the conformance suite of [queue] backends: every
// transport (mem://, amqp://, and any an embedder adds) must pass it.
//
//	func TestConformance(t *testing.T) {
//		queuetest.Run(t, queuetest.Harness{
//			Open: func(t *testing.T) *queue.Transport { … },
//		}, queuetest.Features{Durable: true, Restart: srv.Restart})
//	}
//
// Subtests are named after the contract they check
// (TestCastToServerTargetReachesOnlyThatServer, TestCallTimesOutWhenNoServer,
// TestStopDrainsInFlight, …). Features switches the tests that need
// something of the backend: Restart and Kill for the outage tests, Durable
// for the ones that expect casts to survive them. Topic names are unique per
// subtest, so the suite can run against a broker that holds leftovers of
// earlier runs.
package queuetest
