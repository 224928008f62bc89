//go:build libvirt

package main

import (
	"context"
	"os"
	"path/filepath"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/drivers/libvirt"
	"github.com/novakit/novakit/image"
)

// libvirtBuilt reports whether this binary was built with the libvirt
// driver (go build -tags libvirt).
const libvirtBuilt = true

// openLibvirt opens the libvirt driver on uri (default qemu:///system)
// as one host named after this machine, with guests' disks under
// DATA/instances and base images from the embedded image store.
func openLibvirt(ctx context.Context, uri, data string, images *image.Store) (string, compute.Hypervisor, func() error, error) {
	host, err := os.Hostname()
	if err != nil {
		return "", nil, nil, err
	}
	d, err := libvirt.Open(ctx, uri, libvirt.Options{Images: images, InstancesPath: filepath.Join(data, "instances"), Hostname: host})
	if err != nil {
		return "", nil, nil, err
	}
	return host, d, d.Close, nil
}
