package image_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/novakit/novakit/image"
)

// BenchmarkList: one page of 25 out of 1,000 images for a project that
// sees about half of them, sorted by created_at (the CLI's image list).
func BenchmarkList(b *testing.B) {
	s, err := image.Open(b.TempDir(), image.Options{})
	require.NoError(b, err)
	for i := range 1000 {
		vis := image.Private
		if i%2 == 0 {
			vis = image.Public
		}
		_, err := s.Create(b.Context(), image.Image{Name: fmt.Sprintf("img-%04d", i), Owner: fmt.Sprintf("p%d", i%10), Visibility: vis})
		require.NoError(b, err)
	}
	q := image.ListQuery{Viewer: image.Viewer{ProjectID: "p1"}, Limit: 25}
	b.ReportAllocs()
	for b.Loop() {
		imgs, _, err := s.List(b.Context(), q)
		if err != nil || len(imgs) != 25 {
			b.Fatal(err, len(imgs))
		}
	}
}
