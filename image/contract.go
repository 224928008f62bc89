package image

import (
	"context"
	"io"
	"maps"

	"github.com/novakit/novakit/compute"
)

// ImageMeta returns what compute needs to know about image id. Not found
// wraps compute.ErrNotFound.
func (s *Store) ImageMeta(ctx context.Context, id string) (compute.ImageMeta, error) {
	img, err := s.Get(ctx, id)
	if err != nil {
		return compute.ImageMeta{}, err
	}
	return img.Meta(), nil
}

// CreateImage creates a queued, private image owned by projectID from
// meta (a snapshot or shelve image; ID assigned when empty) and returns
// it as stored.
func (s *Store) CreateImage(ctx context.Context, meta compute.ImageMeta, projectID string) (compute.ImageMeta, error) {
	img, err := s.Create(ctx, Image{ID: meta.ID, Name: meta.Name, DiskFormat: meta.DiskFormat,
		ContainerFormat: meta.ContainerFormat, MinDisk: meta.MinDiskGB, MinRAM: meta.MinRAMMB,
		Owner: projectID, Visibility: Private, Properties: maps.Clone(meta.Properties)})
	if err != nil {
		return compute.ImageMeta{}, err
	}
	return img.Meta(), nil
}

// DeleteImage deletes image id (see Delete).
func (s *Store) DeleteImage(ctx context.Context, id string) error { return s.Delete(ctx, id) }

// Contract is the image method set compute consumers declare (the api,
// the compute agent, drivers): Store and glance.Client implement it.
type Contract interface {
	ImageMeta(ctx context.Context, id string) (compute.ImageMeta, error)
	CreateImage(ctx context.Context, meta compute.ImageMeta, projectID string) (compute.ImageMeta, error)
	Upload(ctx context.Context, id string, data io.Reader) error
	Download(ctx context.Context, id string) (io.ReadCloser, error)
	DeleteImage(ctx context.Context, id string) error
}

var _ Contract = (*Store)(nil)
