package glance_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/identity"
	"github.com/novakit/novakit/image"
	"github.com/novakit/novakit/image/api"
	"github.com/novakit/novakit/image/glance"
	"github.com/novakit/novakit/image/imagetest"
)

func serve(t *testing.T) (*image.Store, string) {
	t.Helper()
	s, err := image.Open(t.TempDir(), image.Options{})
	require.NoError(t, err)
	h, err := api.New(s, api.Options{Authenticator: identity.NoAuth()})
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return s, srv.URL
}

func callerCtx(t *testing.T, token string) context.Context {
	c, err := identity.NoAuth().Authenticate(t.Context(), token)
	require.NoError(t, err)
	return identity.NewContext(t.Context(), c)
}

func TestContract(t *testing.T) {
	t.Parallel()
	t.Run("store", func(t *testing.T) {
		s, err := image.Open(t.TempDir(), image.Options{})
		require.NoError(t, err)
		imagetest.Run(t, s, t.Context())
	})
	t.Run("glance client over image/api", func(t *testing.T) {
		_, u := serve(t)
		c, err := glance.New(glance.Options{Endpoint: u})
		require.NoError(t, err)
		imagetest.Run(t, c, callerCtx(t, "alice:p1"))
	})
}

func TestClientErrorsAndList(t *testing.T) {
	t.Parallel()
	store, u := serve(t)
	_, err := image.Seed(t.Context(), store, "")
	require.NoError(t, err)
	c, err := glance.New(glance.Options{Endpoint: u + "/v2/"})
	require.NoError(t, err)

	_, err = c.ImageMeta(t.Context(), image.DefaultImageID)
	require.ErrorIs(t, err, identity.ErrUnauthorized, "no caller in the context")

	bob := callerCtx(t, "bob:p2")
	imgs, marker, err := c.List(bob, url.Values{"name": {image.DefaultImageName}})
	require.NoError(t, err)
	require.Len(t, imgs, 1)
	assert.Empty(t, marker)
	assert.Equal(t, image.StatusActive, imgs[0].Status)
	assert.Equal(t, "cirros", imgs[0].Properties["os_distro"])
	require.NotNil(t, imgs[0].VirtualSize)
	require.ErrorIs(t, c.DeleteImage(bob, image.DefaultImageID), glance.ErrForbidden)

	// The admin creates an image for another project: owner is sent.
	admin := callerCtx(t, "admin")
	m, err := c.CreateImage(admin, compute.ImageMeta{Name: "for-p2"}, "p2")
	require.NoError(t, err)
	img, err := c.Get(bob, m.ID)
	require.NoError(t, err)
	assert.Equal(t, "p2", img.Owner)

	for range 3 {
		_, err := c.CreateImage(bob, compute.ImageMeta{Name: "page"}, "p2")
		require.NoError(t, err)
	}
	page, marker, err := c.List(bob, url.Values{"limit": {"2"}, "name": {"page"}})
	require.NoError(t, err)
	assert.Len(t, page, 2)
	require.NotEmpty(t, marker)
	page, marker, err = c.List(bob, url.Values{"limit": {"2"}, "name": {"page"}, "marker": {marker}})
	require.NoError(t, err)
	assert.Len(t, page, 1)
	assert.Empty(t, marker)

	down, err := glance.New(glance.Options{Endpoint: "http://127.0.0.1:1"})
	require.NoError(t, err)
	_, err = down.ImageMeta(bob, "x")
	require.ErrorIs(t, err, glance.ErrUnavailable)
}

func ExampleClient() {
	// A Glance endpoint (here the embedded API with no-auth tokens).
	dir, _ := os.MkdirTemp("", "glance")
	defer os.RemoveAll(dir)
	store, _ := image.Open(dir, image.Options{})
	h, _ := api.New(store, api.Options{Authenticator: identity.NoAuth()})
	srv := httptest.NewServer(h)
	defer srv.Close()

	c, err := glance.New(glance.Options{Endpoint: srv.URL})
	if err != nil {
		panic(err)
	}
	creds, _ := identity.NoAuth().Authenticate(context.Background(), "alice:p1")
	ctx := identity.NewContext(context.Background(), creds) // calls carry alice's token
	meta, err := c.CreateImage(ctx, compute.ImageMeta{Name: "snapshot", DiskFormat: "raw", ContainerFormat: "bare"}, "p1")
	if err != nil {
		panic(err)
	}
	if err := c.Upload(ctx, meta.ID, strings.NewReader("disk bytes")); err != nil {
		panic(err)
	}
	got, _ := c.ImageMeta(ctx, meta.ID)
	fmt.Println(got.Name, got.Size)
	// Output: snapshot 10
}
