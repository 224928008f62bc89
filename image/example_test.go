package image_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/novakit/novakit/image"
)

func ExampleStore() {
	dir, _ := os.MkdirTemp("", "images")
	defer os.RemoveAll(dir)
	ctx := context.Background()
	s, err := image.Open(dir, image.Options{})
	if err != nil {
		panic(err)
	}
	def, err := image.Seed(ctx, s, "") // the default public image
	if err != nil {
		panic(err)
	}
	fmt.Println(def.Name, def.Status, def.DiskFormat, *def.VirtualSize)

	img, _ := s.Create(ctx, image.Image{Name: "notes", DiskFormat: "raw", ContainerFormat: "bare", Owner: "p1"})
	_ = s.Upload(ctx, img.ID, strings.NewReader("hello"))
	img, _ = s.Get(ctx, img.ID)
	fmt.Println(img.Status, *img.Size, img.Checksum)
	rc, _ := s.Download(ctx, img.ID)
	b, _ := io.ReadAll(rc)
	rc.Close()
	fmt.Println(string(b))
	// Output:
	// cirros-0.6.3-x86_64-disk active qcow2 117440512
	// active 5 5d41402abc4b2a76b9719d911017c592
	// hello
}
