package computetest_test

import (
	"testing"
	"time"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/compute/computetest"
	"github.com/novakit/novakit/drivers/fake"
)

func fakeHarness(cfg fake.Config) computetest.Harness {
	return computetest.Harness{
		NewHypervisor: func(t *testing.T) compute.Hypervisor {
			c, err := fake.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = c.Close() })
			return c.Host("host1")
		},
	}
}

func fakeFeatures(c compute.Capabilities) computetest.Features {
	f := computetest.FeaturesFor(c)
	f.BootTimeout = 30 * time.Second
	f.OpTimeout = 30 * time.Second
	return f
}

// TestAgentFlowsOnFake runs the agent-flow suite on the fake driver with
// every capability.
func TestAgentFlowsOnFake(t *testing.T) {
	computetest.RunAgentFlows(t, fakeHarness(fake.Config{}), fakeFeatures(fake.DefaultCapabilities()))
}

// TestAgentFlowsOnMinimalFake runs it on a fake that declares nothing
// optional (no pause, suspend, recover …).
func TestAgentFlowsOnMinimalFake(t *testing.T) {
	none := compute.Capabilities{}
	computetest.RunAgentFlows(t, fakeHarness(fake.Config{Capabilities: &none}), fakeFeatures(none))
}
