// Package computetest is the conformance suite of [compute.Hypervisor]
// drivers: every driver (the fake, libvirt, VMware, and any an embedder
// writes in another module) must pass it against the real thing it drives,
// or its simulator.
//
//	func TestConformance(t *testing.T) {
//		computetest.Run(t, computetest.Harness{
//			NewHypervisor: func(t *testing.T) compute.Hypervisor {
//				d := mydriver.Open(…)
//				t.Cleanup(func() { d.Close() })
//				return d
//			},
//		}, computetest.FeaturesFor(mydriver.Capabilities))
//	}
//
// # What is checked
//
// Subtests are named after the contract they check
// (TestSpawnThenInfoIsRunning, TestDestroyOfMissingGuestIsNotFound,
// TestPowerOffThenOnRoundTrips, TestConcurrentSpawnsOnDistinctGuests,
// TestUnsupportedOperationsReportErrUnsupported …); [Tests] lists them.
// [Features] decides which run: derived from the driver's declared
// [compute.Capabilities] by [FeaturesFor], plus knobs a driver sets for
// itself (time budgets, whether host usage is exact, whether the host
// refuses guests it has no room for). Optional operations whose capability
// is off are checked to fail with [compute.ErrUnsupported]; those that are
// on are exercised. Migrations need a second host: [Harness.Peer].
//
// # Extending it
//
// The suite checks the driver contract alone. The compute agent's flows
// (build, delete, stop/start, resize … through the agent on top of a
// driver) come with the agent, as a second entry point in this package that
// takes the same Harness; drivers then call both. [Run] also accepts extra
// [Test] values, run after the contract's, for a driver's own checks with
// the suite's helpers.
package computetest
