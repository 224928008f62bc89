package fake_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/drivers/fake"
)

// A cloud of fake hosts opened by URL: boot a guest, stop it, and see an
// injected failure classified as retryable.
func Example() {
	ctx := context.Background()
	cloud, err := fake.Open(ctx, "fake://?hosts=3&vcpus=8&memory_mb=8192&disk_gb=80")
	if err != nil {
		panic(err)
	}
	defer cloud.Close()
	var hv compute.Hypervisor = cloud.Host("host2")

	spec := &compute.SpawnSpec{
		Instance: &compute.Instance{ID: 1, UUID: "0b5e1a3c-2f51-4f8e-9d0a-6c1e7d11a001"},
		Flavor:   compute.Flavor{Name: "m1.small", VCPUs: 2, MemoryMB: 2048, RootGB: 20},
		PowerOn:  true,
	}
	h, err := hv.Spawn(ctx, spec)
	if err != nil {
		panic(err)
	}
	g := compute.Guest{UUID: spec.Instance.UUID, Handle: h}
	info, _ := hv.Info(ctx, g)
	res, _ := hv.HostResources(ctx)
	fmt.Println(info.PowerState, res.VCPUsUsed, res.MemoryMBUsed, res.LocalGBUsed)

	_ = hv.PowerOff(ctx, g, 0)
	info, _ = hv.Info(ctx, g)
	fmt.Println(info.PowerState)

	cloud.Inject(fake.Fault{Host: "host2", Method: fake.MethodPowerOn, Nth: 1, Err: compute.Transient(fake.ErrInjected)})
	err = hv.PowerOn(ctx, g)
	fmt.Println(compute.IsRetryable(err), errors.Is(err, fake.ErrInjected))
	fmt.Println(hv.PowerOn(ctx, g))

	err = hv.Destroy(ctx, g, compute.DestroyOptions{})
	fmt.Println(err, compute.Classify(hv.Destroy(ctx, g, compute.DestroyOptions{})))
	// Output:
	// running 2 2048 20
	// shutdown
	// true true
	// <nil>
	// <nil> not-found
}
