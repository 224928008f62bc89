package image

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"time"

	"github.com/novakit/novakit/compute"
)

// Image statuses, as Glance names them.
const (
	StatusQueued      = "queued"
	StatusSaving      = "saving"
	StatusActive      = "active"
	StatusKilled      = "killed"
	StatusDeleted     = "deleted"
	StatusDeactivated = "deactivated"
)

// Visibilities.
const (
	Public    = "public"
	Private   = "private"
	Shared    = "shared"
	Community = "community"
)

// DiskFormats and ContainerFormats are the formats Glance accepts by
// default.
var (
	DiskFormats      = []string{"ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop"}
	ContainerFormats = []string{"ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed"}
)

var (
	// ErrNotFound is compute.ErrNotFound: the image does not exist (or
	// the caller may not see it).
	ErrNotFound = compute.ErrNotFound
	// ErrInvalid: a field has a bad value (HTTP 400); the message names
	// the field.
	ErrInvalid = errors.New("image: invalid")
	// ErrConflict: the image is not in a state that allows the operation,
	// or the id is taken (HTTP 409).
	ErrConflict = errors.New("image: conflict")
	// ErrProtected: a protected image cannot be deleted (HTTP 403).
	ErrProtected = errors.New("image: protected")
	// ErrNoData: the image has no data yet (HTTP 204 on download).
	ErrNoData = errors.New("image: no data")
	// ErrTooLarge: the upload exceeds the store's size cap (HTTP 413).
	ErrTooLarge = errors.New("image: too large")
)

// Image is an image record as Glance v2 shows it. Size, VirtualSize and
// the checksums are set when data is uploaded.
type Image struct {
	ID              string            `json:"id"`
	Name            string            `json:"name"`
	Status          string            `json:"status"`
	DiskFormat      string            `json:"disk_format"`
	ContainerFormat string            `json:"container_format"`
	Visibility      string            `json:"visibility"`
	Protected       bool              `json:"protected"`
	Hidden          bool              `json:"os_hidden"`
	MinDisk         int               `json:"min_disk"`
	MinRAM          int               `json:"min_ram"`
	Owner           string            `json:"owner"`
	Size            *int64            `json:"size"`
	VirtualSize     *int64            `json:"virtual_size"`
	Checksum        string            `json:"checksum"`
	OSHashAlgo      string            `json:"os_hash_algo"`
	OSHashValue     string            `json:"os_hash_value"`
	Tags            []string          `json:"tags"`
	Properties      map[string]string `json:"properties"`
	// Members are the projects a shared image is shared with (see
	// Store.AddMember); Create and Update leave them alone.
	Members   []Member  `json:"members,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Clone returns a deep copy of img.
func (img Image) Clone() Image {
	img.Tags = slices.Clone(img.Tags)
	img.Properties = maps.Clone(img.Properties)
	img.Members = slices.Clone(img.Members)
	if img.Size != nil {
		s := *img.Size
		img.Size = &s
	}
	if img.VirtualSize != nil {
		s := *img.VirtualSize
		img.VirtualSize = &s
	}
	return img
}

// Meta converts img to the compute.ImageMeta drivers and the scheduler
// use.
func (img Image) Meta() compute.ImageMeta {
	m := compute.ImageMeta{ID: img.ID, Name: img.Name, DiskFormat: img.DiskFormat,
		ContainerFormat: img.ContainerFormat, MinRAMMB: img.MinRAM, MinDiskGB: img.MinDisk,
		Properties: maps.Clone(img.Properties)}
	if img.Size != nil {
		m.Size = *img.Size
	}
	return m
}

// CoreAttributes are the names Glance reserves: they are image fields,
// never extra properties.
var CoreAttributes = []string{"id", "name", "status", "disk_format", "container_format", "visibility",
	"protected", "os_hidden", "min_disk", "min_ram", "owner", "size", "virtual_size", "checksum",
	"os_hash_algo", "os_hash_value", "tags", "created_at", "updated_at", "self", "file", "schema",
	"locations", "direct_url", "deleted", "deleted_at", "stores", "is_public"}

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$`)

// Validate checks the fields a caller may set; errors wrap ErrInvalid
// and name the field.
func (img *Image) Validate() error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrInvalid, field, fmt.Sprintf(format, args...))
	}
	if img.ID != "" && !uuidRE.MatchString(img.ID) {
		return bad("id", "%q is not a UUID", img.ID)
	}
	if len(img.Name) > 255 {
		return bad("name", "longer than 255 characters")
	}
	if img.DiskFormat != "" && !slices.Contains(DiskFormats, img.DiskFormat) {
		return bad("disk_format", "%q is not one of %v", img.DiskFormat, DiskFormats)
	}
	if img.ContainerFormat != "" && !slices.Contains(ContainerFormats, img.ContainerFormat) {
		return bad("container_format", "%q is not one of %v", img.ContainerFormat, ContainerFormats)
	}
	switch img.Visibility {
	case Public, Private, Shared, Community:
	default:
		return bad("visibility", "%q is not public, private, shared or community", img.Visibility)
	}
	if img.MinDisk < 0 {
		return bad("min_disk", "must be >= 0")
	}
	if img.MinRAM < 0 {
		return bad("min_ram", "must be >= 0")
	}
	if len(img.Owner) > 255 {
		return bad("owner", "longer than 255 characters")
	}
	if len(img.Tags) > 128 {
		return bad("tags", "more than 128 tags")
	}
	for _, t := range img.Tags {
		if t == "" || len(t) > 255 {
			return bad("tags", "a tag must have 1 to 255 characters")
		}
	}
	if len(img.Properties) > 128 {
		return bad("properties", "more than 128 extra properties")
	}
	for k, v := range img.Properties {
		if k == "" || len(k) > 255 {
			return bad("properties", "a property name must have 1 to 255 characters")
		}
		if slices.Contains(CoreAttributes, k) {
			return bad(k, "is a reserved attribute, not an extra property")
		}
		if len(v) > 65535 {
			return bad(k, "value longer than 65535 characters")
		}
	}
	return nil
}
