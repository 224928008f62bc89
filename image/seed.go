package image

import (
	"bytes"
	"context"
	"errors"
	"fmt"
)

// Default image of the all-in-one cloud.
const (
	DefaultImageName = "cirros-0.6.3-x86_64-disk"
	// DefaultImageVirtualSize is 112 MiB, cirros 0.6.3's virtual size.
	DefaultImageVirtualSize = 112 << 20
)

// DefaultImageID is the fixed id of the seeded image, so clouds and
// tests can refer to it.
const DefaultImageID = "5a2b2f6e-0c1d-4c3e-9f4a-6b7c8d9e0f10"

// Seed makes sure the store holds the default public image: an active,
// unprotected qcow2 named DefaultImageName with min_disk 0 and min_ram 0
// (as devstack uploads cirros; an empty 112 MiB disk made by NewQCOW2:
// nothing is downloaded), owned by owner (may be empty). It
// is idempotent: an existing image with that id is returned as is, and a
// queued one left by an interrupted seed is completed.
func Seed(ctx context.Context, s *Store, owner string) (Image, error) {
	img, err := s.Get(ctx, DefaultImageID)
	switch {
	case errors.Is(err, ErrNotFound):
		img, err = s.Create(ctx, Image{ID: DefaultImageID, Name: DefaultImageName, DiskFormat: "qcow2",
			ContainerFormat: "bare", Visibility: Public, Owner: owner,
			Properties: map[string]string{"os_distro": "cirros", "os_type": "linux"}})
		if err != nil {
			return Image{}, fmt.Errorf("image: seed: %w", err)
		}
	case err != nil:
		return Image{}, err
	}
	if img.Status == StatusQueued {
		if err := s.Upload(ctx, img.ID, bytes.NewReader(NewQCOW2(DefaultImageVirtualSize))); err != nil {
			return Image{}, fmt.Errorf("image: seed: %w", err)
		}
	}
	return s.Get(ctx, DefaultImageID)
}
