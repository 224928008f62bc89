//go:build !libvirt

package main

import (
	"context"
	"errors"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/image"
)

// libvirtBuilt reports whether this binary was built with the libvirt
// driver (go build -tags libvirt).
const libvirtBuilt = false

func openLibvirt(context.Context, string, string, *image.Store) (string, compute.Hypervisor, func() error, error) {
	return "", nil, nil, errors.New("-driver libvirt: this binary was built without libvirt; build it with -tags libvirt (needs libvirt-dev and pkg-config, or add the libvirt_dlopen tag) — see README")
}
