package image

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
)

// Viewer is who is looking: a project and whether it is an admin.
type Viewer struct {
	ProjectID string
	Admin     bool
}

// CanSee reports whether v may see img, as Glance decides: admins see
// everything; others see public and community images, their own
// project's, and shared images they are a member of (whatever the
// member status).
func (v Viewer) CanSee(img *Image) bool {
	if v.Admin || img.Visibility == Public || img.Visibility == Community ||
		(img.Owner != "" && img.Owner == v.ProjectID) {
		return true
	}
	_, member := img.MemberOf(v.ProjectID)
	return member && img.Visibility == Shared && v.ProjectID != ""
}

// CanModify reports whether v may change or delete img: its owner or an
// admin.
func (v Viewer) CanModify(img *Image) bool {
	return v.Admin || (img.Owner != "" && img.Owner == v.ProjectID)
}

// SortKeys are the keys List sorts on.
var SortKeys = []string{"created_at", "updated_at", "name", "id", "status", "size", "disk_format",
	"container_format", "visibility", "min_disk", "min_ram", "owner"}

// ListQuery selects, orders and pages images for List.
type ListQuery struct {
	Viewer Viewer
	// Filters: empty matches anything. Visibility "all" (or empty)
	// lists what Glance lists by default: for admins every image, for
	// others public ones, their own and not community ones unless asked.
	Name, Status, Visibility, Owner, DiskFormat, ContainerFormat string
	// In: the field (id, name, status, disk_format, container_format,
	// owner, visibility) must have one of the values (Glance's in:
	// operator).
	In map[string][]string
	// Tags: every tag must be present.
	Tags []string
	// Properties: exact matches on extra properties.
	Properties map[string]string
	// MemberStatus selects shared images shared with the viewer by
	// their member status: accepted (default), pending, rejected or all.
	MemberStatus string
	// Hidden includes os_hidden images (default: excluded).
	Hidden bool
	// SortKeys and SortDirs ("asc"/"desc", default desc) order the
	// result; id is always the last key. Default created_at desc.
	SortKeys []string
	SortDirs []string
	// Marker: the id of the last image of the previous page.
	Marker string
	// Limit: at most this many images (0: no limit).
	Limit int
}

// List returns the images q selects, ordered and paged, and whether more
// follow. An unknown sort key or direction wraps ErrInvalid; a marker
// that is not a visible image wraps compute.ErrNotFound.
func (s *Store) List(_ context.Context, q ListQuery) ([]Image, bool, error) {
	keys := q.SortKeys
	if len(keys) == 0 {
		keys = []string{"created_at"}
	}
	for _, k := range keys {
		if !slices.Contains(SortKeys, k) {
			return nil, false, fmt.Errorf("%w: sort_key: %q is not one of %v", ErrInvalid, k, SortKeys)
		}
	}
	dirs := make([]int, len(keys))
	for i := range keys {
		d := "desc"
		switch {
		case i < len(q.SortDirs):
			d = q.SortDirs[i]
		case len(q.SortDirs) > 0:
			d = q.SortDirs[len(q.SortDirs)-1]
		}
		switch d {
		case "asc":
			dirs[i] = 1
		case "desc":
			dirs[i] = -1
		default:
			return nil, false, fmt.Errorf("%w: sort_dir: %q is not asc or desc", ErrInvalid, d)
		}
	}
	switch q.Visibility {
	case "", "all", Public, Private, Shared, Community:
	default:
		return nil, false, fmt.Errorf("%w: visibility: %q is not public, private, shared, community or all", ErrInvalid, q.Visibility)
	}
	for field := range q.In {
		if !slices.Contains(InFields, field) {
			return nil, false, fmt.Errorf("%w: in: %q is not one of %v", ErrInvalid, field, InFields)
		}
	}
	switch q.MemberStatus {
	case "", "all", MemberAccepted, MemberPending, MemberRejected:
	default:
		return nil, false, fmt.Errorf("%w: member_status: %q is not accepted, pending, rejected or all", ErrInvalid, q.MemberStatus)
	}
	compare := func(a, b *Image) int {
		for i, k := range keys {
			if c := compareKey(a, b, k); c != 0 {
				return c * dirs[i]
			}
		}
		return strings.Compare(a.ID, b.ID) * dirs[len(dirs)-1]
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var sel []*Image
	for _, img := range s.images {
		if q.matches(img) {
			sel = append(sel, img)
		}
	}
	slices.SortFunc(sel, compare)
	if q.Marker != "" {
		i := slices.IndexFunc(sel, func(img *Image) bool { return img.ID == q.Marker })
		if i < 0 {
			// The marker may be filtered out yet visible: place it by order.
			m, ok := s.images[q.Marker]
			if !ok || !q.Viewer.CanSee(m) {
				return nil, false, notFound(q.Marker)
			}
			i = slices.IndexFunc(sel, func(img *Image) bool { return compare(img, m) > 0 }) - 1
			if i < -1 {
				i = len(sel) - 1
			}
		}
		sel = sel[i+1:]
	}
	more := false
	if q.Limit > 0 && len(sel) > q.Limit {
		sel, more = sel[:q.Limit], true
	}
	out := make([]Image, len(sel))
	for i, img := range sel {
		out[i] = img.Clone()
	}
	return out, more, nil
}

func (q *ListQuery) matches(img *Image) bool {
	v := q.Viewer
	own := img.Owner != "" && img.Owner == v.ProjectID
	sharedWithMe := false
	if m, ok := img.MemberOf(v.ProjectID); ok && img.Visibility == Shared && v.ProjectID != "" {
		want := q.MemberStatus
		if want == "" {
			want = MemberAccepted
		}
		sharedWithMe = want == "all" || m.Status == want
	}
	switch q.Visibility {
	case "", "all":
		if !v.Admin && !(img.Visibility == Public || own || sharedWithMe) {
			return false
		}
	case Community:
		if img.Visibility != Community {
			return false
		}
	default:
		if img.Visibility != q.Visibility || !(v.Admin || img.Visibility == Public || own || sharedWithMe) {
			return false
		}
	}
	if img.Hidden && !q.Hidden {
		return false
	}
	if (q.Name != "" && img.Name != q.Name) || (q.Status != "" && img.Status != q.Status) ||
		(q.Owner != "" && img.Owner != q.Owner) || (q.DiskFormat != "" && img.DiskFormat != q.DiskFormat) ||
		(q.ContainerFormat != "" && img.ContainerFormat != q.ContainerFormat) {
		return false
	}
	for _, t := range q.Tags {
		if !slices.Contains(img.Tags, t) {
			return false
		}
	}
	for field, vals := range q.In {
		if !slices.Contains(vals, fieldValue(img, field)) {
			return false
		}
	}
	for k, val := range q.Properties {
		if img.Properties[k] != val {
			return false
		}
	}
	return true
}

func compareKey(a, b *Image, k string) int {
	switch k {
	case "created_at":
		return a.CreatedAt.Compare(b.CreatedAt)
	case "updated_at":
		return a.UpdatedAt.Compare(b.UpdatedAt)
	case "name":
		return cmp.Compare(a.Name, b.Name)
	case "id":
		return cmp.Compare(a.ID, b.ID)
	case "status":
		return cmp.Compare(a.Status, b.Status)
	case "size":
		return cmp.Compare(deref(a.Size), deref(b.Size))
	case "disk_format":
		return cmp.Compare(a.DiskFormat, b.DiskFormat)
	case "container_format":
		return cmp.Compare(a.ContainerFormat, b.ContainerFormat)
	case "visibility":
		return cmp.Compare(a.Visibility, b.Visibility)
	case "min_disk":
		return cmp.Compare(a.MinDisk, b.MinDisk)
	case "min_ram":
		return cmp.Compare(a.MinRAM, b.MinRAM)
	case "owner":
		return cmp.Compare(a.Owner, b.Owner)
	}
	return 0
}

// InFields are the fields ListQuery.In may filter.
var InFields = []string{"id", "name", "status", "disk_format", "container_format", "owner", "visibility"}

func fieldValue(img *Image, field string) string {
	switch field {
	case "id":
		return img.ID
	case "name":
		return img.Name
	case "status":
		return img.Status
	case "disk_format":
		return img.DiskFormat
	case "container_format":
		return img.ContainerFormat
	case "owner":
		return img.Owner
	case "visibility":
		return img.Visibility
	}
	return ""
}

func deref(p *int64) int64 {
	if p == nil {
		return -1
	}
	return *p
}
