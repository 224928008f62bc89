package libvirt_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"os"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/drivers/libvirt"
)

// oneImage is the smallest ImageSource: one raw image held in memory.
type oneImage struct {
	meta compute.ImageMeta
	data []byte
}

func (o oneImage) ImageMeta(_ context.Context, id string) (compute.ImageMeta, error) {
	if id != o.meta.ID {
		return compute.ImageMeta{}, compute.NotFound("image", id)
	}
	return o.meta, nil
}

func (o oneImage) Download(_ context.Context, id string) (io.ReadCloser, error) {
	if id != o.meta.ID {
		return nil, compute.NotFound("image", id)
	}
	return io.NopCloser(bytes.NewReader(o.data)), nil
}

// Open a driver on libvirt's in-process test hypervisor (use
// "qemu:///system" for real guests), boot a guest and delete it.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "novakit-libvirt-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	images := oneImage{meta: compute.ImageMeta{ID: "cirros", DiskFormat: "raw"}, data: make([]byte, 1<<20)}

	d, err := libvirt.Open(ctx, "test:///default", libvirt.Options{Images: images, InstancesPath: dir})
	if err != nil {
		log.Fatal(err)
	}
	defer d.Close()
	virtType, _ := d.VirtType()
	fmt.Println("virt type:", virtType)

	spec := &compute.SpawnSpec{
		Instance: &compute.Instance{ID: 7, UUID: "6b0c3f7e-8d6f-4c39-9d0e-2a4a0c1d9e11", Name: "example"},
		Flavor:   compute.Flavor{Name: "m1.tiny", VCPUs: 1, MemoryMB: 64, RootGB: 1},
		Image:    images.meta,
		PowerOn:  true,
	}
	h, err := d.Spawn(ctx, spec)
	if err != nil {
		log.Fatal(err)
	}
	g := compute.Guest{UUID: spec.Instance.UUID, Handle: h}
	info, err := d.Info(ctx, g)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(info.ID, info.PowerState, info.VCPUs, "vCPU", info.MemoryMB, "MB")
	if err := d.Destroy(ctx, g, compute.DestroyOptions{}); err != nil {
		log.Fatal(err)
	}
	_, err = d.Info(ctx, g)
	fmt.Println("after destroy:", compute.Classify(err))
	// Output:
	// virt type: test
	// instance-00000007 running 1 vCPU 64 MB
	// after destroy: not-found
}
