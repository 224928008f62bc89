package api_test

import (
	"bytes"
	"io"
	"testing"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/tokens"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/imagedata"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novakit/novakit/image"
)

// TestGophercloud drives the embedded identity service and the image API
// with gophercloud v2: password authentication, catalog lookup of the
// image endpoint, and the image calls Go tooling makes.
func TestGophercloud(t *testing.T) {
	t.Parallel()
	c := newCloud(t)
	ctx := t.Context()
	provider, err := openstack.AuthenticatedClient(ctx, gophercloud.AuthOptions{
		IdentityEndpoint: c.identity.URL + "/v3", Username: "demo", Password: "demopass",
		DomainName: "Default", TenantName: "demo",
	})
	require.NoError(t, err)
	idc, err := openstack.NewIdentityV3(provider, gophercloud.EndpointOpts{Region: "RegionOne"})
	require.NoError(t, err)
	user, err := tokens.Get(ctx, idc, provider.Token()).ExtractUser()
	require.NoError(t, err)
	assert.Equal(t, "demo", user.Name)

	ic, err := openstack.NewImageV2(provider, gophercloud.EndpointOpts{Region: "RegionOne"})
	require.NoError(t, err)
	pages, err := images.List(ic, images.ListOpts{Limit: 1}).AllPages(ctx)
	require.NoError(t, err)
	all, err := images.ExtractImages(pages)
	require.NoError(t, err)
	require.Len(t, all, 1)
	assert.Equal(t, image.DefaultImageName, all[0].Name)
	assert.Equal(t, images.ImageStatusActive, all[0].Status)

	img, err := images.Create(ctx, ic, images.CreateOpts{Name: "gc-disk", DiskFormat: "raw", ContainerFormat: "bare",
		Tags: []string{"go"}, Properties: map[string]string{"os_distro": "debian"}}).Extract()
	require.NoError(t, err)
	assert.Equal(t, images.ImageStatusQueued, img.Status)
	data := bytes.Repeat([]byte{0xAB}, 3<<20)
	require.NoError(t, imagedata.Upload(ctx, ic, img.ID, bytes.NewReader(data)).ExtractErr())
	got, err := images.Get(ctx, ic, img.ID).Extract()
	require.NoError(t, err)
	assert.Equal(t, images.ImageStatusActive, got.Status)
	assert.Equal(t, int64(len(data)), got.SizeBytes)
	assert.Equal(t, "debian", got.Properties["os_distro"])
	assert.Equal(t, []string{"go"}, got.Tags)

	rc, err := imagedata.Download(ctx, ic, img.ID).Extract()
	require.NoError(t, err)
	back, err := io.ReadAll(rc)
	require.NoError(t, err)
	require.NoError(t, rc.Close())
	assert.True(t, bytes.Equal(data, back))

	got, err = images.Update(ctx, ic, img.ID, images.UpdateOpts{images.ReplaceImageName{NewName: "gc-renamed"},
		images.ReplaceImageMinDisk{NewMinDisk: 3}}).Extract()
	require.NoError(t, err)
	assert.Equal(t, "gc-renamed", got.Name)
	assert.Equal(t, 3, got.MinDiskGigabytes)

	pages, err = images.List(ic, images.ListOpts{Limit: 1}).AllPages(ctx)
	require.NoError(t, err)
	all, err = images.ExtractImages(pages)
	require.NoError(t, err)
	assert.Len(t, all, 2, "paging through next links")

	require.NoError(t, images.Delete(ctx, ic, img.ID).ExtractErr())
	_, err = images.Get(ctx, ic, img.ID).Extract()
	assert.True(t, gophercloud.ResponseCodeIs(err, 404), "%v", err)
}
