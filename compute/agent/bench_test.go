package agent_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/compute/agent/agenttest"
	"github.com/novakit/novakit/drivers/fake"
)

// BenchmarkBuildThroughAgent measures one fake build end to end: what
// the API and conductor do (instance row, create action, placement claim,
// request spec, build cast over mem://) and what the agent does (CAS to
// block_device_mapping and spawning, the fake spawn, CAS to active, the
// action event), until the instance reads ACTIVE. The "parallel" variant
// keeps 8 builds in flight.
func BenchmarkBuildThroughAgent(b *testing.B) {
	for _, par := range []int{1, 8} {
		name := "serial"
		if par > 1 {
			name = "parallel8"
		}
		b.Run(name, func(b *testing.B) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			c, err := agenttest.Open(ctx, "")
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			c.Logger = slog.New(slog.DiscardHandler)
			// Room for every guest of the run: the fake refuses guests
			// beyond its physical size (1000 vCPUs by default).
			fc, err := fake.New(fake.Config{Capacity: fake.Capacity{VCPUs: 1 << 20, MemoryMB: 1 << 30, DiskGB: 1 << 24}})
			if err != nil {
				b.Fatal(err)
			}
			defer fc.Close()
			a, err := c.StartAgent(ctx, c.Options("host1", fc.Host("host1")))
			if err != nil {
				b.Fatal(err)
			}
			build := func() {
				inst, err := c.Boot(ctx, a.Agent, agenttest.BootOptions{})
				if err != nil {
					b.Error(err)
					return
				}
				got, err := c.Wait(ctx, inst.UUID, agenttest.Settled)
				if err != nil {
					b.Error(err)
				} else if got.VMState != compute.VMActive {
					b.Errorf("instance %s is %s", got.UUID, got.VMState)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			if par == 1 {
				for b.Loop() {
					build()
				}
				return
			}
			work := make(chan struct{})
			var wg sync.WaitGroup
			for range par {
				wg.Go(func() {
					for range work {
						build()
					}
				})
			}
			for b.Loop() {
				work <- struct{}{}
			}
			close(work)
			wg.Wait()
		})
	}
}
