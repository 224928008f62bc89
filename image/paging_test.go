package image_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/novakit/novakit/image"
)

// TestPagingProperty: for any set of images, sort keys and page size,
// following markers page by page returns exactly the unpaged list, in
// the same order, without duplicates — also when ties on the sort keys
// abound (ids break them).
func TestPagingProperty(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(rt *rapid.T) {
		now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		s, err := image.Open(t.TempDir(), image.Options{Now: func() time.Time { return now }})
		if err != nil {
			rt.Fatal(err)
		}
		n := rapid.IntRange(0, 30).Draw(rt, "images")
		for i := range n {
			now = now.Add(time.Duration(rapid.IntRange(0, 2).Draw(rt, "tick")) * time.Second)
			_, err := s.Create(t.Context(), image.Image{
				Name:       fmt.Sprintf("n%d", rapid.IntRange(0, 3).Draw(rt, "name")),
				Owner:      rapid.SampledFrom([]string{"p1", "p2"}).Draw(rt, "owner"),
				Visibility: rapid.SampledFrom([]string{image.Public, image.Private, image.Shared, image.Community}).Draw(rt, "vis"),
				MinDisk:    rapid.IntRange(0, 2).Draw(rt, "min_disk"),
			})
			if err != nil {
				rt.Fatalf("image %d: %v", i, err)
			}
		}
		q := image.ListQuery{
			Viewer:   image.Viewer{ProjectID: "p1", Admin: rapid.Bool().Draw(rt, "admin")},
			SortKeys: rapid.SliceOfNDistinct(rapid.SampledFrom([]string{"name", "created_at", "min_disk", "visibility", "owner"}), 0, 3, rapid.ID[string]).Draw(rt, "keys"),
			SortDirs: rapid.SliceOfN(rapid.SampledFrom([]string{"asc", "desc"}), 0, 1).Draw(rt, "dirs"),
		}
		all, more, err := s.List(t.Context(), q)
		if err != nil || more {
			rt.Fatalf("unpaged: %v more=%v", err, more)
		}
		q.Limit = rapid.IntRange(1, 7).Draw(rt, "limit")
		var paged []string
		for range n + 2 {
			page, more, err := s.List(t.Context(), q)
			if err != nil {
				rt.Fatal(err)
			}
			for _, img := range page {
				paged = append(paged, img.ID)
			}
			if !more {
				break
			}
			q.Marker = page[len(page)-1].ID
		}
		want := make([]string, len(all))
		for i, img := range all {
			want[i] = img.ID
		}
		if !slices.Equal(want, paged) {
			rt.Fatalf("paged %v, want %v", paged, want)
		}
	})
}
