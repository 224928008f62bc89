// Package imagetest is the conformance suite for image backends: every
// implementation of image.Contract (the embedded image.Store, the Glance
// client against image/api or a real Glance) runs [Run] in its tests.
package imagetest

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/image"
)

// Run checks that backend honours the compute image contract
// (image.Contract) as the embedded store does. ctx is the context calls
// are made with (carrying the caller's credentials where the backend
// needs them); the caller's project is "p1" or an admin's. It creates and
// deletes its own images.
func Run(t *testing.T, backend image.Contract, ctx context.Context) {
	t.Helper()
	meta, err := backend.CreateImage(ctx, compute.ImageMeta{Name: "snap", DiskFormat: "qcow2", ContainerFormat: "bare",
		MinDiskGB: 1, Properties: map[string]string{"image_type": "snapshot", "instance_uuid": "i-1"}}, "p1")
	require.NoError(t, err)
	require.NotEmpty(t, meta.ID)
	assert.Equal(t, "snap", meta.Name)
	_, err = backend.Download(ctx, meta.ID)
	require.ErrorIs(t, err, image.ErrNoData)

	data := image.NewQCOW2(8 << 20)
	require.NoError(t, backend.Upload(ctx, meta.ID, bytes.NewReader(data)))
	require.ErrorIs(t, backend.Upload(ctx, meta.ID, bytes.NewReader(data)), image.ErrConflict)
	got, err := backend.ImageMeta(ctx, meta.ID)
	require.NoError(t, err)
	assert.Equal(t, int64(len(data)), got.Size)
	assert.Equal(t, 1, got.MinDiskGB)
	assert.Equal(t, map[string]string{"image_type": "snapshot", "instance_uuid": "i-1"}, got.Properties)
	rc, err := backend.Download(ctx, meta.ID)
	require.NoError(t, err)
	back, err := io.ReadAll(rc)
	require.NoError(t, err)
	require.NoError(t, rc.Close())
	assert.True(t, bytes.Equal(data, back))

	require.NoError(t, backend.DeleteImage(ctx, meta.ID))
	_, err = backend.ImageMeta(ctx, meta.ID)
	require.ErrorIs(t, err, compute.ErrNotFound)
	require.ErrorIs(t, backend.DeleteImage(ctx, meta.ID), compute.ErrNotFound)
	_, err = backend.CreateImage(ctx, compute.ImageMeta{DiskFormat: "exe"}, "p1")
	require.ErrorIs(t, err, image.ErrInvalid)
}
