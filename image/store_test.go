package image_test

import (
	"bytes"
	"context"
	"crypto/md5" //nolint:gosec
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/image"
)

func openStore(t *testing.T, dir string) *image.Store {
	t.Helper()
	s, err := image.Open(dir, image.Options{})
	require.NoError(t, err)
	return s
}

func TestLifecycleSurvivesReopen(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := t.TempDir()
	s := openStore(t, dir)
	img, err := s.Create(ctx, image.Image{Name: "disk", DiskFormat: "raw", ContainerFormat: "bare", Owner: "p1",
		Tags: []string{"a", "a", "b"}, Properties: map[string]string{"hw_disk_bus": "virtio"}})
	require.NoError(t, err)
	assert.Equal(t, image.StatusQueued, img.Status)
	assert.Equal(t, image.Shared, img.Visibility)
	assert.Equal(t, []string{"a", "b"}, img.Tags)
	assert.Nil(t, img.Size)

	_, err = s.Download(ctx, img.ID)
	require.ErrorIs(t, err, image.ErrNoData)

	data := bytes.Repeat([]byte("novakit"), 10000)
	require.NoError(t, s.Upload(ctx, img.ID, bytes.NewReader(data)))
	got, err := s.Get(ctx, img.ID)
	require.NoError(t, err)
	assert.Equal(t, image.StatusActive, got.Status)
	require.NotNil(t, got.Size)
	assert.Equal(t, int64(len(data)), *got.Size)
	assert.Equal(t, int64(len(data)), *got.VirtualSize)
	m := md5.Sum(data) //nolint:gosec
	h := sha512.Sum512(data)
	assert.Equal(t, hex.EncodeToString(m[:]), got.Checksum)
	assert.Equal(t, "sha512", got.OSHashAlgo)
	assert.Equal(t, hex.EncodeToString(h[:]), got.OSHashValue)
	require.ErrorIs(t, s.Upload(ctx, img.ID, bytes.NewReader(data)), image.ErrConflict)

	s2 := openStore(t, dir)
	got2, err := s2.Get(ctx, img.ID)
	require.NoError(t, err)
	assert.Equal(t, got, got2)
	rc, err := s2.Download(ctx, img.ID)
	require.NoError(t, err)
	back, err := io.ReadAll(rc)
	require.NoError(t, rc.Close())
	require.NoError(t, err)
	assert.Equal(t, data, back)

	_, err = s2.Update(ctx, img.ID, func(i *image.Image) error { i.Protected = true; i.Name = "renamed"; i.Status = "killed"; return nil })
	require.NoError(t, err)
	require.ErrorIs(t, s2.Delete(ctx, img.ID), image.ErrProtected)
	_, err = s2.Update(ctx, img.ID, func(i *image.Image) error { i.Protected = false; return nil })
	require.NoError(t, err)
	got, _ = s2.Get(ctx, img.ID)
	assert.Equal(t, "renamed", got.Name)
	assert.Equal(t, image.StatusActive, got.Status, "status is not writable")
	require.NoError(t, s2.Delete(ctx, img.ID))
	_, err = s2.Get(ctx, img.ID)
	require.ErrorIs(t, err, compute.ErrNotFound)
	s3 := openStore(t, dir)
	_, err = s3.Get(ctx, img.ID)
	require.ErrorIs(t, err, compute.ErrNotFound)
	entries, _ := os.ReadDir(filepath.Join(dir, "data"))
	assert.Empty(t, entries)
}

type failingReader struct{ n int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errors.New("connection reset")
	}
	f.n--
	return copy(p, "xxxx"), nil
}

func TestFailedUploadGoesBackToQueued(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := t.TempDir()
	s, err := image.Open(dir, image.Options{MaxImageSize: 100})
	require.NoError(t, err)
	img, err := s.Create(ctx, image.Image{Name: "x", DiskFormat: "qcow2", ContainerFormat: "bare"})
	require.NoError(t, err)
	require.ErrorContains(t, s.Upload(ctx, img.ID, &failingReader{n: 3}), "connection reset")
	got, _ := s.Get(ctx, img.ID)
	assert.Equal(t, image.StatusQueued, got.Status)
	require.ErrorIs(t, s.Upload(ctx, img.ID, bytes.NewReader(make([]byte, 101))), image.ErrTooLarge)
	got, _ = s.Get(ctx, img.ID)
	assert.Equal(t, image.StatusQueued, got.Status)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	require.ErrorIs(t, s.Upload(cctx, img.ID, bytes.NewReader([]byte("x"))), context.Canceled)
	entries, _ := os.ReadDir(filepath.Join(dir, "data"))
	assert.Empty(t, entries, "no partial data is kept")

	noFormat, err := s.Create(ctx, image.Image{Name: "y"})
	require.NoError(t, err)
	require.ErrorIs(t, s.Upload(ctx, noFormat.ID, bytes.NewReader([]byte("x"))), image.ErrInvalid)
	require.ErrorIs(t, s.Upload(ctx, "nope", bytes.NewReader(nil)), compute.ErrNotFound)
}

func TestCrashDuringUploadRecovers(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := t.TempDir()
	s := openStore(t, dir)
	img, err := s.Create(ctx, image.Image{Name: "x", DiskFormat: "raw", ContainerFormat: "bare"})
	require.NoError(t, err)
	// Simulate a crash mid-upload: the record says saving and a temp file exists.
	rec := filepath.Join(dir, "images", img.ID+".json")
	b, err := os.ReadFile(rec)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(rec, bytes.Replace(b, []byte(`"status":"queued"`), []byte(`"status":"saving"`), 1), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "data", img.ID+".tmp"), []byte("partial"), 0o600))
	s2 := openStore(t, dir)
	got, err := s2.Get(ctx, img.ID)
	require.NoError(t, err)
	assert.Equal(t, image.StatusQueued, got.Status)
	assert.NoFileExists(t, filepath.Join(dir, "data", img.ID+".tmp"))
	require.NoError(t, s2.Upload(ctx, img.ID, bytes.NewReader([]byte("full"))))
}

func TestValidation(t *testing.T) {
	t.Parallel()
	s := openStore(t, t.TempDir())
	for _, tc := range []struct {
		img   image.Image
		field string
	}{
		{image.Image{DiskFormat: "exe"}, "disk_format"},
		{image.Image{ContainerFormat: "zip"}, "container_format"},
		{image.Image{Visibility: "secret"}, "visibility"},
		{image.Image{MinDisk: -1}, "min_disk"},
		{image.Image{MinRAM: -1}, "min_ram"},
		{image.Image{ID: "not-a-uuid"}, "id"},
		{image.Image{Tags: []string{""}}, "tags"},
		{image.Image{Properties: map[string]string{"status": "active"}}, "status"},
	} {
		_, err := s.Create(t.Context(), tc.img)
		require.ErrorIs(t, err, image.ErrInvalid)
		assert.Contains(t, err.Error(), tc.field)
	}
	img, err := s.Create(t.Context(), image.Image{ID: "11111111-2222-3333-4444-555555555555"})
	require.NoError(t, err)
	_, err = s.Create(t.Context(), image.Image{ID: img.ID})
	require.ErrorIs(t, err, image.ErrConflict)
}

func TestListVisibilityAndPaging(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	s, err := image.Open(t.TempDir(), image.Options{Now: func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(time.Second)
		return now
	}})
	require.NoError(t, err)
	mk := func(name, owner, vis string, tags ...string) image.Image {
		img, err := s.Create(ctx, image.Image{Name: name, Owner: owner, Visibility: vis, Tags: tags})
		require.NoError(t, err)
		return img
	}
	mk("pub", "p0", image.Public, "x")
	mk("mine-private", "p1", image.Private)
	mk("mine-shared", "p1", image.Shared, "x")
	mk("theirs-private", "p2", image.Private)
	mk("theirs-community", "p2", image.Community)
	names := func(q image.ListQuery) []string {
		imgs, _, err := s.List(ctx, q)
		require.NoError(t, err)
		var out []string
		for _, i := range imgs {
			out = append(out, i.Name)
		}
		return out
	}
	p1 := image.Viewer{ProjectID: "p1"}
	assert.Equal(t, []string{"mine-shared", "mine-private", "pub"}, names(image.ListQuery{Viewer: p1}))
	assert.Equal(t, []string{"theirs-community"}, names(image.ListQuery{Viewer: p1, Visibility: image.Community}))
	assert.Equal(t, []string{"mine-private"}, names(image.ListQuery{Viewer: p1, Visibility: image.Private}))
	assert.Empty(t, names(image.ListQuery{Viewer: image.Viewer{ProjectID: "p3"}, Visibility: image.Private}))
	assert.Len(t, names(image.ListQuery{Viewer: image.Viewer{Admin: true}}), 5)
	assert.Equal(t, []string{"mine-shared", "pub"}, names(image.ListQuery{Viewer: p1, Tags: []string{"x"}}))
	assert.Equal(t, []string{"mine-private", "mine-shared", "pub"}, names(image.ListQuery{Viewer: p1, SortKeys: []string{"name"}, SortDirs: []string{"asc"}}))

	admin := image.Viewer{Admin: true}
	page1, more, err := s.List(ctx, image.ListQuery{Viewer: admin, Limit: 2, SortKeys: []string{"name"}, SortDirs: []string{"asc"}})
	require.NoError(t, err)
	assert.True(t, more)
	page2, more, err := s.List(ctx, image.ListQuery{Viewer: admin, Limit: 2, SortKeys: []string{"name"}, SortDirs: []string{"asc"}, Marker: page1[1].ID})
	require.NoError(t, err)
	assert.True(t, more)
	page3, more, err := s.List(ctx, image.ListQuery{Viewer: admin, Limit: 2, SortKeys: []string{"name"}, SortDirs: []string{"asc"}, Marker: page2[1].ID})
	require.NoError(t, err)
	assert.False(t, more)
	assert.Equal(t, "mine-private mine-shared pub theirs-community theirs-private",
		fmt.Sprint(page1[0].Name, " ", page1[1].Name, " ", page2[0].Name, " ", page2[1].Name, " ", page3[0].Name))

	_, _, err = s.List(ctx, image.ListQuery{Viewer: p1, SortKeys: []string{"colour"}})
	require.ErrorIs(t, err, image.ErrInvalid)
	_, _, err = s.List(ctx, image.ListQuery{Viewer: p1, SortDirs: []string{"up"}})
	require.ErrorIs(t, err, image.ErrInvalid)
	_, _, err = s.List(ctx, image.ListQuery{Viewer: p1, Marker: "nope"})
	require.ErrorIs(t, err, compute.ErrNotFound)
}

func TestConcurrentUploadsAndDeletes(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := openStore(t, t.TempDir())
	var ids []string
	for range 16 {
		img, err := s.Create(ctx, image.Image{Name: "c", DiskFormat: "raw", ContainerFormat: "bare"})
		require.NoError(t, err)
		ids = append(ids, img.ID)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := map[string]int{}
	for _, id := range ids {
		for range 3 {
			wg.Go(func() {
				if s.Upload(ctx, id, bytes.NewReader(bytes.Repeat([]byte{1}, 4096))) == nil {
					mu.Lock()
					wins[id]++
					mu.Unlock()
				}
			})
		}
		wg.Go(func() { _, _, _ = s.List(ctx, image.ListQuery{Viewer: image.Viewer{Admin: true}}) })
	}
	wg.Wait()
	for _, id := range ids {
		assert.Equal(t, 1, wins[id], "exactly one upload wins per image")
		img, err := s.Get(ctx, id)
		require.NoError(t, err)
		assert.Equal(t, int64(4096), *img.Size)
	}
	for _, id := range ids {
		wg.Go(func() { _ = s.Delete(ctx, id) })
	}
	wg.Wait()
	imgs, _, err := s.List(ctx, image.ListQuery{Viewer: image.Viewer{Admin: true}})
	require.NoError(t, err)
	assert.Empty(t, imgs)
}

func TestSeedAndQCOW2(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := t.TempDir()
	s := openStore(t, dir)
	img, err := image.Seed(ctx, s, "")
	require.NoError(t, err)
	assert.Equal(t, image.DefaultImageName, img.Name)
	assert.Equal(t, image.StatusActive, img.Status)
	assert.Equal(t, image.Public, img.Visibility)
	require.NotNil(t, img.VirtualSize)
	assert.Equal(t, int64(image.DefaultImageVirtualSize), *img.VirtualSize)
	again, err := image.Seed(ctx, openStore(t, dir), "")
	require.NoError(t, err)
	assert.Equal(t, img, again)
	imgs, _, err := s.List(ctx, image.ListQuery{Viewer: image.Viewer{ProjectID: "anyone"}, Name: image.DefaultImageName})
	require.NoError(t, err)
	assert.Len(t, imgs, 1)

	q := image.NewQCOW2(image.DefaultImageVirtualSize)
	h, err := image.ParseQCOW2Header(q)
	require.NoError(t, err)
	assert.Equal(t, uint32(3), h.Version)
	assert.Equal(t, uint64(image.DefaultImageVirtualSize), h.Size)
	if qemuImg, err := exec.LookPath("qemu-img"); err == nil {
		f := filepath.Join(t.TempDir(), "x.qcow2")
		require.NoError(t, os.WriteFile(f, q, 0o600))
		out, err := exec.Command(qemuImg, "check", f).CombinedOutput()
		require.NoError(t, err, string(out))
		out, err = exec.Command(qemuImg, "info", "--output=json", f).CombinedOutput()
		require.NoError(t, err, string(out))
		assert.Contains(t, string(out), fmt.Sprintf(`"virtual-size": %d`, image.DefaultImageVirtualSize))
	} else {
		t.Log("qemu-img not installed: the generated qcow2 is checked by our own header parser only")
	}
}

func TestContract(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := openStore(t, t.TempDir())
	meta, err := s.CreateImage(ctx, compute.ImageMeta{Name: "snap", DiskFormat: "qcow2", ContainerFormat: "bare",
		Properties: map[string]string{"image_type": "snapshot"}}, "p1")
	require.NoError(t, err)
	require.NotEmpty(t, meta.ID)
	q := image.NewQCOW2(1 << 30)
	require.NoError(t, s.Upload(ctx, meta.ID, bytes.NewReader(q)))
	got, err := s.ImageMeta(ctx, meta.ID)
	require.NoError(t, err)
	assert.Equal(t, int64(len(q)), got.Size)
	assert.Equal(t, "snapshot", got.Properties["image_type"])
	img, _ := s.Get(ctx, meta.ID)
	assert.Equal(t, int64(1<<30), *img.VirtualSize)
	assert.Equal(t, image.Private, img.Visibility)
	assert.Equal(t, "p1", img.Owner)
	require.NoError(t, s.DeleteImage(ctx, meta.ID))
	_, err = s.ImageMeta(ctx, meta.ID)
	require.ErrorIs(t, err, compute.ErrNotFound)
}

func FuzzParseQCOW2Header(f *testing.F) {
	f.Add(image.NewQCOW2(1 << 20)[:104])
	f.Add([]byte("QFI\xfb"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := image.ParseQCOW2Header(b)
		if err == nil && (h.Version < 2 || h.Version > 3 || h.Size > 1<<63-1) {
			t.Fatalf("accepted a bad header: %+v", h)
		}
	})
}

func TestMembersPersist(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := t.TempDir()
	s := openStore(t, dir)
	img, err := s.Create(ctx, image.Image{Name: "x", Owner: "p1", Visibility: image.Shared,
		Members: []image.Member{{ProjectID: "sneaky", Status: image.MemberAccepted}}})
	require.NoError(t, err)
	assert.Empty(t, img.Members, "Create ignores members")
	_, err = s.AddMember(ctx, img.ID, "p1")
	require.ErrorIs(t, err, image.ErrInvalid, "the owner is not a member")
	_, err = s.AddMember(ctx, img.ID, "p2")
	require.NoError(t, err)
	_, err = s.SetMemberStatus(ctx, img.ID, "p2", image.MemberAccepted)
	require.NoError(t, err)
	_, err = s.Update(ctx, img.ID, func(i *image.Image) error { i.Members = nil; i.Name = "y"; return nil })
	require.NoError(t, err)
	got, err := openStore(t, dir).Get(ctx, img.ID)
	require.NoError(t, err)
	m, ok := got.MemberOf("p2")
	require.True(t, ok, "Update leaves members alone; they survive a reopen")
	assert.Equal(t, image.MemberAccepted, m.Status)
	assert.True(t, image.Viewer{ProjectID: "p2"}.CanSee(&got))
	assert.False(t, image.Viewer{ProjectID: "p2"}.CanModify(&got))
	_, err = s.SetMemberStatus(ctx, img.ID, "p9", image.MemberAccepted)
	require.ErrorIs(t, err, compute.ErrNotFound)
	require.NoError(t, s.RemoveMember(ctx, img.ID, "p2"))
	require.ErrorIs(t, s.RemoveMember(ctx, img.ID, "p2"), compute.ErrNotFound)
}
