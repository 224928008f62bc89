package image

import (
	"context"
	"crypto/md5" //nolint:gosec // Glance's checksum is MD5 by definition.
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/novakit/novakit/compute"
)

// Options configure a Store.
type Options struct {
	// MaxImageSize caps an upload in bytes (Glance's image_size_cap,
	// default 1 TiB).
	MaxImageSize int64
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Store is the embedded image store: image records and their data in a
// directory, durable across restarts. Records are JSON files under
// DIR/images written atomically (temp file, fsync, rename); data files
// under DIR/data are written to a temp file while being hashed and
// renamed into place when complete. All records are also held in memory.
// A Store is safe for concurrent use; several Stores must not share a
// directory.
type Store struct {
	dir  string
	opts Options

	mu     sync.RWMutex
	images map[string]*Image
}

// Open opens (creating if needed) the store in dir. Uploads interrupted
// by a crash (status saving) go back to queued and their partial data is
// removed.
func Open(dir string, opts Options) (*Store, error) {
	if opts.MaxImageSize <= 0 {
		opts.MaxImageSize = 1 << 40
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Store{dir: dir, opts: opts, images: map[string]*Image{}}
	for _, sub := range []string{"images", "data"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o750); err != nil {
			return nil, fmt.Errorf("image: open %s: %w", dir, err)
		}
	}
	for _, sub := range []string{"images", "data"} {
		tmps, _ := filepath.Glob(filepath.Join(dir, sub, "*.tmp"))
		for _, t := range tmps {
			_ = os.Remove(t)
		}
	}
	files, err := filepath.Glob(filepath.Join(dir, "images", "*.json"))
	if err != nil {
		return nil, fmt.Errorf("image: open %s: %w", dir, err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("image: open %s: %w", dir, err)
		}
		var img Image
		if err := json.Unmarshal(b, &img); err != nil {
			return nil, fmt.Errorf("image: record %s: %w", f, err)
		}
		if img.Status == StatusSaving {
			img.Status = StatusQueued
			if err := s.persist(&img); err != nil {
				return nil, err
			}
		}
		s.images[img.ID] = &img
	}
	return s, nil
}

func (s *Store) recordPath(id string) string { return filepath.Join(s.dir, "images", id+".json") }
func (s *Store) dataPath(id string) string   { return filepath.Join(s.dir, "data", id) }

// persist writes img's record atomically.
func (s *Store) persist(img *Image) error {
	b, err := json.Marshal(img)
	if err != nil {
		return fmt.Errorf("image: encode %s: %w", img.ID, err)
	}
	return writeAtomic(s.recordPath(img.ID), b)
}

func writeAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("image: write %s: %w", path, err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("image: write %s: %w", path, err)
	}
	syncDir(filepath.Dir(path))
	return nil
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}

func notFound(id string) error {
	return &compute.NotFoundError{Kind: "image", ID: id}
}

// Create stores a new queued image record: ID assigned (a UUID) when
// empty, visibility "shared" when empty (Glance's default), status
// queued, timestamps set; Status, sizes and checksums given are ignored.
// A bad field wraps ErrInvalid; a taken ID wraps ErrConflict.
func (s *Store) Create(_ context.Context, img Image) (Image, error) {
	img = img.Clone()
	if img.ID == "" {
		img.ID = uuid.NewString()
	}
	if img.Visibility == "" {
		img.Visibility = Shared
	}
	if err := img.Validate(); err != nil {
		return Image{}, err
	}
	if u, err := uuid.Parse(img.ID); err == nil {
		img.ID = u.String()
	}
	now := s.opts.Now().UTC().Truncate(time.Second)
	img.Status, img.CreatedAt, img.UpdatedAt = StatusQueued, now, now
	img.Size, img.VirtualSize, img.Checksum, img.OSHashAlgo, img.OSHashValue = nil, nil, "", "", ""
	img.Tags = dedup(img.Tags)
	img.Members = nil
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.images[img.ID]; ok {
		return Image{}, fmt.Errorf("%w: image id %s already exists", ErrConflict, img.ID)
	}
	if err := s.persist(&img); err != nil {
		return Image{}, err
	}
	s.images[img.ID] = &img
	return img.Clone(), nil
}

func dedup(tags []string) []string {
	out := make([]string, 0, len(tags))
	for _, t := range tags {
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

// Get returns the image id (not found wraps compute.ErrNotFound). It
// does not check visibility: see Visible.
func (s *Store) Get(_ context.Context, id string) (Image, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	img, ok := s.images[id]
	if !ok {
		return Image{}, notFound(id)
	}
	return img.Clone(), nil
}

// Update applies fn to a copy of the image and stores the result
// atomically. fn may change name, formats (only while queued),
// visibility, protected, os_hidden, min_disk, min_ram, owner, tags and
// properties; changes to id, status, sizes, checksums and timestamps
// are ignored. An error from fn is returned as is; an invalid result
// wraps ErrInvalid.
func (s *Store) Update(_ context.Context, id string, fn func(*Image) error) (Image, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.images[id]
	if !ok {
		return Image{}, notFound(id)
	}
	next := cur.Clone()
	if err := fn(&next); err != nil {
		return Image{}, err
	}
	next.ID, next.Status, next.CreatedAt, next.Members = cur.ID, cur.Status, cur.CreatedAt, slices.Clone(cur.Members)
	next.Size, next.VirtualSize, next.Checksum, next.OSHashAlgo, next.OSHashValue =
		cur.Size, cur.VirtualSize, cur.Checksum, cur.OSHashAlgo, cur.OSHashValue
	if cur.Status != StatusQueued && (next.DiskFormat != cur.DiskFormat || next.ContainerFormat != cur.ContainerFormat) {
		return Image{}, fmt.Errorf("%w: disk_format and container_format can only be changed while the image is queued", ErrConflict)
	}
	next.Tags = dedup(next.Tags)
	if err := next.Validate(); err != nil {
		return Image{}, err
	}
	next.UpdatedAt = s.opts.Now().UTC().Truncate(time.Second)
	if err := s.persist(&next); err != nil {
		return Image{}, err
	}
	s.images[id] = &next
	return next.Clone(), nil
}

// setStatus moves an image from one of from to to.
func (s *Store) setStatus(id, to string, from ...string) (Image, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.images[id]
	if !ok {
		return Image{}, notFound(id)
	}
	if cur.Status == to {
		return cur.Clone(), nil
	}
	if !slices.Contains(from, cur.Status) {
		return Image{}, fmt.Errorf("%w: image %s is %s, not %s", ErrConflict, id, cur.Status, strings.Join(from, " or "))
	}
	next := cur.Clone()
	next.Status = to
	next.UpdatedAt = s.opts.Now().UTC().Truncate(time.Second)
	if err := s.persist(&next); err != nil {
		return Image{}, err
	}
	s.images[id] = &next
	return next.Clone(), nil
}

// Deactivate makes an active image deactivated (its data cannot be
// downloaded by non-admins); idempotent. Other statuses wrap ErrConflict.
func (s *Store) Deactivate(_ context.Context, id string) (Image, error) {
	return s.setStatus(id, StatusDeactivated, StatusActive)
}

// Reactivate makes a deactivated image active again; idempotent.
func (s *Store) Reactivate(_ context.Context, id string) (Image, error) {
	return s.setStatus(id, StatusActive, StatusDeactivated)
}

// Upload stores the image's data from r. The image must be queued and
// have disk and container formats (else ErrConflict / ErrInvalid); it is
// saving while r is read and becomes active with size, virtual_size
// (from the qcow2 header, or the size for raw and iso), checksum (MD5)
// and os_hash_value (SHA-512) set. On failure (r's error, ctx
// cancelled, ErrTooLarge) the image goes back to queued and no data is
// kept. It blocks until r is drained. Deleting the image meanwhile makes
// Upload return an error wrapping compute.ErrNotFound.
func (s *Store) Upload(ctx context.Context, id string, r io.Reader) error {
	s.mu.Lock()
	cur, ok := s.images[id]
	switch {
	case !ok:
		s.mu.Unlock()
		return notFound(id)
	case cur.Status != StatusQueued:
		s.mu.Unlock()
		return fmt.Errorf("%w: image %s is %s: data can only be uploaded to a queued image", ErrConflict, id, cur.Status)
	case cur.DiskFormat == "" || cur.ContainerFormat == "":
		s.mu.Unlock()
		return fmt.Errorf("%w: disk_format, container_format: must be set prior to saving data", ErrInvalid)
	}
	saving := cur.Clone()
	saving.Status = StatusSaving
	if err := s.persist(&saving); err != nil {
		s.mu.Unlock()
		return err
	}
	s.images[id] = &saving
	s.mu.Unlock()

	tmp := s.dataPath(id) + ".tmp"
	res, err := s.writeData(ctx, tmp, r)

	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok = s.images[id]
	if !ok {
		_ = os.Remove(tmp)
		return notFound(id)
	}
	next := cur.Clone()
	if err == nil {
		if err = os.Rename(tmp, s.dataPath(id)); err == nil {
			syncDir(filepath.Dir(tmp))
		}
	}
	if err != nil {
		_ = os.Remove(tmp)
		next.Status = StatusQueued
		next.UpdatedAt = s.opts.Now().UTC().Truncate(time.Second)
		if perr := s.persist(&next); perr == nil {
			s.images[id] = &next
		}
		return fmt.Errorf("image: upload %s: %w", id, err)
	}
	next.Status = StatusActive
	next.Size = &res.size
	next.Checksum, next.OSHashAlgo, next.OSHashValue = res.md5, "sha512", res.sha512
	switch {
	case next.DiskFormat == "qcow2" && res.qcow2Size > 0:
		v := res.qcow2Size
		next.VirtualSize = &v
	case next.DiskFormat == "raw" || next.DiskFormat == "iso":
		v := res.size
		next.VirtualSize = &v
	}
	next.UpdatedAt = s.opts.Now().UTC().Truncate(time.Second)
	if err := s.persist(&next); err != nil {
		_ = os.Remove(s.dataPath(id))
		return err
	}
	s.images[id] = &next
	return nil
}

type dataResult struct {
	size        int64
	md5, sha512 string
	qcow2Size   int64
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

func (s *Store) writeData(ctx context.Context, tmp string, r io.Reader) (dataResult, error) {
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return dataResult{}, err
	}
	defer f.Close()
	m5, s512 := md5.New(), sha512.New() //nolint:gosec
	head := &headBuffer{max: qcow2HeaderLen}
	n, err := io.Copy(io.MultiWriter(f, m5, s512, head),
		io.LimitReader(ctxReader{ctx, r}, s.opts.MaxImageSize+1))
	if err != nil {
		return dataResult{}, err
	}
	if n > s.opts.MaxImageSize {
		return dataResult{}, fmt.Errorf("%w: the upload exceeds %d bytes", ErrTooLarge, s.opts.MaxImageSize)
	}
	if err := f.Sync(); err != nil {
		return dataResult{}, err
	}
	res := dataResult{size: n, md5: hex.EncodeToString(m5.Sum(nil)), sha512: hex.EncodeToString(s512.Sum(nil))}
	if h, err := ParseQCOW2Header(head.b); err == nil {
		res.qcow2Size = int64(h.Size) //nolint:gosec // checked <= MaxInt64 by the parser
	}
	return res, nil
}

type headBuffer struct {
	b   []byte
	max int
}

func (h *headBuffer) Write(p []byte) (int, error) {
	if room := h.max - len(h.b); room > 0 {
		h.b = append(h.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

// Download opens the image's data for reading; the caller closes it.
// A queued or saving image wraps ErrNoData; active and deactivated images
// are readable (the API refuses deactivated ones to non-admins). The
// reader stays valid if the image is deleted meanwhile.
func (s *Store) Download(_ context.Context, id string) (io.ReadCloser, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	img, ok := s.images[id]
	if !ok {
		return nil, notFound(id)
	}
	if img.Status != StatusActive && img.Status != StatusDeactivated {
		return nil, fmt.Errorf("%w: image %s is %s", ErrNoData, id, img.Status)
	}
	f, err := os.Open(s.dataPath(id))
	if err != nil {
		return nil, fmt.Errorf("image: data of %s: %w", id, err)
	}
	return f, nil
}

// Delete removes the image record and its data. A protected image wraps
// ErrProtected; a missing one compute.ErrNotFound.
func (s *Store) Delete(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	img, ok := s.images[id]
	if !ok {
		return notFound(id)
	}
	if img.Protected {
		return fmt.Errorf("%w: image %s is protected and cannot be deleted", ErrProtected, id)
	}
	if err := os.Remove(s.recordPath(id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("image: delete %s: %w", id, err)
	}
	_ = os.Remove(s.dataPath(id))
	syncDir(filepath.Join(s.dir, "images"))
	delete(s.images, id)
	return nil
}
