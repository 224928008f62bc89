package glance

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/identity"
	"github.com/novakit/novakit/image"
)

var (
	// ErrForbidden: Glance refused the caller (HTTP 403).
	ErrForbidden = errors.New("glance: forbidden")
	// ErrUnavailable: Glance could not be reached or answered with a
	// server error.
	ErrUnavailable = errors.New("glance: image service unavailable")
)

// Options configure a Client.
type Options struct {
	// Endpoint is Glance's URL from the catalog (http://host:9292), with
	// or without the /v2 suffix.
	Endpoint string
	// Token returns the token to send. Default: the token of the
	// credentials ctx carries (identity.FromContext), i.e. calls are made
	// on the caller's behalf as Nova does; no credentials is an error
	// wrapping identity.ErrUnauthorized.
	Token func(ctx context.Context) (string, error)
	// HTTPClient (default: http.DefaultClient; uploads and downloads are
	// long, so set timeouts on the context rather than the client).
	HTTPClient *http.Client
}

// Client talks to Glance v2 (a real Glance or image/api). It implements
// the compute image contract (image.Contract). Safe for concurrent use.
type Client struct {
	opts Options
	base string // …/v2
}

var _ image.Contract = (*Client)(nil)

// New returns a Client.
func New(opts Options) (*Client, error) {
	if opts.Endpoint == "" {
		return nil, errors.New("glance: Options.Endpoint is required")
	}
	if _, err := url.Parse(opts.Endpoint); err != nil {
		return nil, fmt.Errorf("glance: Options.Endpoint: %w", err)
	}
	if opts.Token == nil {
		opts.Token = func(ctx context.Context) (string, error) {
			c, ok := identity.FromContext(ctx)
			if !ok || c.Token == "" {
				return "", fmt.Errorf("glance: no caller token in the context: %w", identity.ErrUnauthorized)
			}
			return c.Token, nil
		}
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = http.DefaultClient
	}
	base := strings.TrimRight(opts.Endpoint, "/")
	if !strings.HasSuffix(base, "/v2") {
		base += "/v2"
	}
	return &Client{opts: opts, base: base}, nil
}

// do sends a request and returns the response when its status is one of
// ok; otherwise it closes the body and returns a typed error.
func (c *Client) do(ctx context.Context, method, path, ctype string, body io.Reader, ok ...int) (*http.Response, error) {
	tok, err := c.opts.Token(ctx)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, fmt.Errorf("glance: %w", err)
	}
	req.Header.Set("X-Auth-Token", tok)
	req.Header.Set("Accept", "application/json")
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := c.opts.HTTPClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %s %s: %w", ErrUnavailable, method, path, err)
	}
	if slices.Contains(ok, resp.StatusCode) {
		return resp, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	msg := errorMessage(b)
	what := fmt.Sprintf("glance: %s %s: %s: %s", method, path, resp.Status, msg)
	switch code := resp.StatusCode; {
	case code == http.StatusNotFound:
		return nil, fmt.Errorf("%s: %w", what, compute.ErrNotFound)
	case code == http.StatusUnauthorized:
		return nil, fmt.Errorf("%s: %w", what, identity.ErrUnauthorized)
	case code == http.StatusForbidden:
		return nil, fmt.Errorf("%s: %w", what, ErrForbidden)
	case code == http.StatusConflict:
		return nil, fmt.Errorf("%s: %w", what, image.ErrConflict)
	case code == http.StatusBadRequest:
		return nil, fmt.Errorf("%s: %w", what, image.ErrInvalid)
	case code == http.StatusRequestEntityTooLarge:
		return nil, fmt.Errorf("%s: %w", what, image.ErrTooLarge)
	case code >= 500:
		return nil, fmt.Errorf("%s: %w", what, ErrUnavailable)
	default:
		return nil, errors.New(what)
	}
}

func errorMessage(b []byte) string {
	var e struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(b, &e) == nil && e.Message != "" {
		return e.Message
	}
	return strings.TrimSpace(string(b))
}

// Get returns image id as Glance shows it.
func (c *Client) Get(ctx context.Context, id string) (image.Image, error) {
	resp, err := c.do(ctx, http.MethodGet, "/images/"+url.PathEscape(id), "", nil, http.StatusOK)
	if err != nil {
		return image.Image{}, err
	}
	defer resp.Body.Close()
	var m map[string]json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		return image.Image{}, fmt.Errorf("glance: image %s: %w", id, err)
	}
	return parseImage(m)
}

// List returns one page of GET /v2/images with query (name, status,
// visibility, marker, limit …) and the next page's marker ("" when
// last).
func (c *Client) List(ctx context.Context, query url.Values) ([]image.Image, string, error) {
	path := "/images"
	if len(query) > 0 {
		path += "?" + query.Encode()
	}
	resp, err := c.do(ctx, http.MethodGet, path, "", nil, http.StatusOK)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	var body struct {
		Images []map[string]json.RawMessage `json:"images"`
		Next   string                       `json:"next"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, "", fmt.Errorf("glance: image list: %w", err)
	}
	out := make([]image.Image, 0, len(body.Images))
	for _, m := range body.Images {
		img, err := parseImage(m)
		if err != nil {
			return nil, "", err
		}
		out = append(out, img)
	}
	marker := ""
	if body.Next != "" {
		if u, err := url.Parse(body.Next); err == nil {
			marker = u.Query().Get("marker")
		}
	}
	return out, marker, nil
}

// parseImage reads Glance's image JSON: core attributes, and every other
// string member as an extra property.
func parseImage(m map[string]json.RawMessage) (image.Image, error) {
	var img image.Image
	str := func(k string) string {
		var s string
		_ = json.Unmarshal(m[k], &s)
		return s
	}
	img.ID, img.Name, img.Status = str("id"), str("name"), str("status")
	img.DiskFormat, img.ContainerFormat, img.Visibility = str("disk_format"), str("container_format"), str("visibility")
	img.Owner, img.Checksum, img.OSHashAlgo, img.OSHashValue = str("owner"), str("checksum"), str("os_hash_algo"), str("os_hash_value")
	_ = json.Unmarshal(m["protected"], &img.Protected)
	_ = json.Unmarshal(m["os_hidden"], &img.Hidden)
	_ = json.Unmarshal(m["min_disk"], &img.MinDisk)
	_ = json.Unmarshal(m["min_ram"], &img.MinRAM)
	_ = json.Unmarshal(m["size"], &img.Size)
	_ = json.Unmarshal(m["virtual_size"], &img.VirtualSize)
	_ = json.Unmarshal(m["tags"], &img.Tags)
	for _, k := range []string{"created_at", "updated_at"} {
		if t, err := time.Parse(time.RFC3339, str(k)); err == nil {
			if k == "created_at" {
				img.CreatedAt = t
			} else {
				img.UpdatedAt = t
			}
		}
	}
	if img.ID == "" {
		return image.Image{}, errors.New("glance: an image without id")
	}
	for k, raw := range m {
		if slices.Contains(image.CoreAttributes, k) {
			continue
		}
		var s string
		if json.Unmarshal(raw, &s) == nil {
			if img.Properties == nil {
				img.Properties = map[string]string{}
			}
			img.Properties[k] = s
		}
	}
	return img, nil
}

// ImageMeta returns what compute needs to know about image id; not found
// wraps compute.ErrNotFound.
func (c *Client) ImageMeta(ctx context.Context, id string) (compute.ImageMeta, error) {
	img, err := c.Get(ctx, id)
	if err != nil {
		return compute.ImageMeta{}, err
	}
	return img.Meta(), nil
}

// CreateImage creates a queued, private image from meta (POST
// /v2/images). The owner is set to projectID when it differs from the
// caller's project (that needs an admin token in Glance).
func (c *Client) CreateImage(ctx context.Context, meta compute.ImageMeta, projectID string) (compute.ImageMeta, error) {
	body := map[string]any{}
	for k, v := range meta.Properties {
		body[k] = v
	}
	maps.Copy(body, map[string]any{"visibility": image.Private, "min_disk": meta.MinDiskGB, "min_ram": meta.MinRAMMB})
	for k, v := range map[string]string{"id": meta.ID, "name": meta.Name, "disk_format": meta.DiskFormat,
		"container_format": meta.ContainerFormat} {
		if v != "" {
			body[k] = v
		}
	}
	if creds, ok := identity.FromContext(ctx); projectID != "" && (!ok || creds.ProjectID != projectID) {
		body["owner"] = projectID
	}
	b, err := json.Marshal(body)
	if err != nil {
		return compute.ImageMeta{}, fmt.Errorf("glance: %w", err)
	}
	resp, err := c.do(ctx, http.MethodPost, "/images", "application/json", bytes.NewReader(b), http.StatusCreated)
	if err != nil {
		return compute.ImageMeta{}, err
	}
	defer resp.Body.Close()
	var m map[string]json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		return compute.ImageMeta{}, fmt.Errorf("glance: created image: %w", err)
	}
	img, err := parseImage(m)
	if err != nil {
		return compute.ImageMeta{}, err
	}
	return img.Meta(), nil
}

// Upload streams data to the image (PUT /v2/images/{id}/file). It blocks
// until data is drained and Glance answers.
func (c *Client) Upload(ctx context.Context, id string, data io.Reader) error {
	resp, err := c.do(ctx, http.MethodPut, "/images/"+url.PathEscape(id)+"/file", "application/octet-stream",
		io.NopCloser(data), http.StatusNoContent, http.StatusCreated, http.StatusOK)
	if err != nil {
		return err
	}
	return resp.Body.Close()
}

// Download opens the image's data (GET /v2/images/{id}/file); the caller
// closes it. An image without data wraps image.ErrNoData.
func (c *Client) Download(ctx context.Context, id string) (io.ReadCloser, error) {
	resp, err := c.do(ctx, http.MethodGet, "/images/"+url.PathEscape(id)+"/file", "", nil, http.StatusOK, http.StatusNoContent)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusNoContent {
		resp.Body.Close()
		return nil, fmt.Errorf("glance: image %s: %w", id, image.ErrNoData)
	}
	return resp.Body, nil
}

// DeleteImage deletes image id; not found wraps compute.ErrNotFound.
func (c *Client) DeleteImage(ctx context.Context, id string) error {
	resp, err := c.do(ctx, http.MethodDelete, "/images/"+url.PathEscape(id), "", nil, http.StatusNoContent, http.StatusOK)
	if err != nil {
		return err
	}
	return resp.Body.Close()
}
