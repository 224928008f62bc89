package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/identity"
	"github.com/novakit/novakit/identity/policy"
	"github.com/novakit/novakit/image"
)

// Options configure the handler.
type Options struct {
	// Authenticator validates X-Auth-Token (required).
	Authenticator identity.Authenticator
	// AuthURI is advertised in WWW-Authenticate on 401 (the identity
	// service's public URL).
	AuthURI string
	// Policy decides who may do what (default: DefaultPolicy, Glance's
	// admin/member/reader defaults); its context_is_admin rule (default
	// role:admin) decides who sees every project's images.
	Policy *policy.Enforcer
	// DefaultLimit and MaxLimit bound list pages (Glance's
	// limit_param_default 25 and api_limit_max 1000).
	DefaultLimit, MaxLimit int
	// MaxBodySize caps JSON request bodies (default 64 KiB); image data
	// is capped by the store.
	MaxBodySize int64
}

// Handler serves the Glance v2 API subset on an image.Store. It is safe
// for concurrent use.
type Handler struct {
	store *image.Store
	opts  Options
	h     http.Handler
}

// New returns the Glance v2 handler for store. Routes: GET / (300) and
// GET /versions (both without a token), GET/POST /v2/images,
// GET/PATCH/DELETE /v2/images/{id}, PUT/GET /v2/images/{id}/file,
// PUT/DELETE /v2/images/{id}/tags/{tag}, POST
// /v2/images/{id}/actions/{deactivate,reactivate} (admin),
// GET/POST /v2/images/{id}/members and GET/PUT/DELETE
// /v2/images/{id}/members/{member}, GET /v2/schemas/{image,images,member,members},
// GET /v2/info/import and /v2/info/stores.
func New(store *image.Store, opts Options) (*Handler, error) {
	if opts.Authenticator == nil {
		return nil, errors.New("image/api: Options.Authenticator is required")
	}
	if opts.Policy == nil {
		opts.Policy = DefaultPolicy()
	}
	if opts.DefaultLimit <= 0 {
		opts.DefaultLimit = 25
	}
	if opts.MaxLimit <= 0 {
		opts.MaxLimit = 1000
	}
	if opts.MaxBodySize <= 0 {
		opts.MaxBodySize = 64 << 10
	}
	a := &Handler{store: store, opts: opts}
	m := http.NewServeMux()
	m.HandleFunc("GET /{$}", a.versions(http.StatusMultipleChoices))
	m.HandleFunc("GET /versions", a.versions(http.StatusOK))
	m.HandleFunc("GET /v2/images", a.list)
	m.HandleFunc("POST /v2/images", a.create)
	m.HandleFunc("GET /v2/images/{id}", a.show)
	m.HandleFunc("PATCH /v2/images/{id}", a.patch)
	m.HandleFunc("DELETE /v2/images/{id}", a.delete)
	m.HandleFunc("PUT /v2/images/{id}/file", a.upload)
	m.HandleFunc("GET /v2/images/{id}/file", a.download)
	m.HandleFunc("PUT /v2/images/{id}/tags/{tag}", a.addTag)
	m.HandleFunc("DELETE /v2/images/{id}/tags/{tag}", a.deleteTag)
	m.HandleFunc("POST /v2/images/{id}/actions/{action}", a.action)
	m.HandleFunc("GET /v2/images/{id}/members", a.listMembers)
	m.HandleFunc("POST /v2/images/{id}/members", a.addMember)
	m.HandleFunc("GET /v2/images/{id}/members/{member}", a.showMember)
	m.HandleFunc("PUT /v2/images/{id}/members/{member}", a.updateMember)
	m.HandleFunc("DELETE /v2/images/{id}/members/{member}", a.removeMember)
	m.HandleFunc("GET /v2/schemas/member", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, memberSchema()) })
	m.HandleFunc("GET /v2/schemas/members", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, membersSchema()) })
	m.HandleFunc("GET /v2/schemas/image", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, imageSchema()) })
	m.HandleFunc("GET /v2/schemas/images", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, imagesSchema()) })
	m.HandleFunc("GET /v2/info/import", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"import-methods": map[string]any{
			"description": "Import methods available.", "type": "array", "value": []string{}}})
	})
	m.HandleFunc("GET /v2/info/stores", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"stores": []map[string]any{{"id": "file", "description": "embedded store", "default": true}}})
	})
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, errorf(http.StatusNotFound, "The resource could not be found."))
	})
	auth := identity.Middleware(opts.Authenticator, identity.MiddlewareOptions{
		AuthURI: opts.AuthURI, PublicPaths: []string{"/", "/versions"}})
	a.h = auth(m)
	return a, nil
}

// ServeHTTP serves a request.
func (a *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Openstack-Request-Id", "req-"+uuid.NewString())
	a.h.ServeHTTP(w, r)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError writes Glance's (webob's) JSON error body:
// {"message": "…", "code": "404 Not Found", "title": "Not Found"}.
func writeError(w http.ResponseWriter, err error) {
	code, msg := http.StatusInternalServerError, err.Error()
	var he *httpError
	switch {
	case errors.As(err, &he):
		code = he.code
	case errors.Is(err, compute.ErrNotFound):
		code, msg = http.StatusNotFound, "No image found: "+msg
	case errors.Is(err, image.ErrInvalid):
		code, msg = http.StatusBadRequest, strings.TrimPrefix(msg, "image: invalid: ")
	case errors.Is(err, image.ErrConflict):
		code = http.StatusConflict
	case errors.Is(err, image.ErrProtected):
		code = http.StatusForbidden
	case errors.Is(err, image.ErrTooLarge):
		code = http.StatusRequestEntityTooLarge
	}
	title := http.StatusText(code)
	writeJSON(w, code, map[string]any{"message": msg, "code": fmt.Sprintf("%d %s", code, title), "title": title})
}

func (a *Handler) versions(code int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		base := "http://" + r.Host
		if r.TLS != nil {
			base = "https://" + r.Host
		}
		var vs []any
		for minor := 16; minor >= 0; minor-- {
			status := "SUPPORTED"
			if minor == 16 {
				status = "CURRENT"
			}
			vs = append(vs, map[string]any{"id": fmt.Sprintf("v2.%d", minor), "status": status,
				"links": []map[string]string{{"rel": "self", "href": base + "/v2/"}}})
		}
		writeJSON(w, code, map[string]any{"versions": vs})
	}
}

// caller returns the request's credentials and viewer.
func (a *Handler) caller(r *http.Request) (*identity.Credentials, image.Viewer) {
	c, _ := identity.FromContext(r.Context())
	return c, image.Viewer{ProjectID: c.ProjectID, Admin: a.opts.Policy.Allowed(c, RuleContextIsAdmin, nil)}
}

func fmtTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// view renders an image as Glance v2 does: core attributes, then extra
// properties at the top level.
func view(img *image.Image) map[string]any {
	m := make(map[string]any, 24+len(img.Properties))
	for k, v := range img.Properties {
		m[k] = v
	}
	tags := img.Tags
	if tags == nil {
		tags = []string{}
	}
	var size, vsize any
	if img.Size != nil {
		size = *img.Size
	}
	if img.VirtualSize != nil {
		vsize = *img.VirtualSize
	}
	for k, v := range map[string]any{
		"id": img.ID, "name": nullable(img.Name), "status": img.Status, "visibility": img.Visibility,
		"protected": img.Protected, "os_hidden": img.Hidden, "checksum": nullable(img.Checksum),
		"os_hash_algo": nullable(img.OSHashAlgo), "os_hash_value": nullable(img.OSHashValue),
		"owner": nullable(img.Owner), "size": size, "virtual_size": vsize, "min_disk": img.MinDisk,
		"min_ram": img.MinRAM, "disk_format": nullable(img.DiskFormat), "container_format": nullable(img.ContainerFormat),
		"created_at": fmtTime(img.CreatedAt), "updated_at": fmtTime(img.UpdatedAt), "tags": tags,
		"self": "/v2/images/" + img.ID, "file": "/v2/images/" + img.ID + "/file", "schema": "/v2/schemas/image",
	} {
		m[k] = v
	}
	return m
}

// visible loads image id for the caller: not visible → 404; then rule
// ("" for none) is checked against it → 403.
func (a *Handler) visible(r *http.Request, id, rule string) (image.Image, error) {
	_, v := a.caller(r)
	img, err := a.store.Get(r.Context(), id)
	if err != nil {
		return image.Image{}, errorf(404, "No image found with ID %s", id)
	}
	if !v.CanSee(&img) {
		return image.Image{}, errorf(404, "No image found with ID %s", id)
	}
	if rule != "" {
		if err := a.authorize(r, rule, &img); err != nil {
			return image.Image{}, err
		}
	}
	return img, nil
}

// modifiable loads image id for a change: invisible → 404, visible but
// not the caller's → 403, rule denied → 403.
func (a *Handler) modifiable(r *http.Request, id, rule string) (image.Image, error) {
	img, err := a.visible(r, id, "")
	if err != nil {
		return img, err
	}
	if _, v := a.caller(r); !v.CanModify(&img) {
		return image.Image{}, errorf(403, "You are not permitted to modify image %s.", id)
	}
	if err := a.authorize(r, rule, &img); err != nil {
		return image.Image{}, err
	}
	return img, nil
}

func (a *Handler) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, a.opts.MaxBodySize))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, errorf(413, "The request body is larger than %d bytes.", a.opts.MaxBodySize)
		}
		return nil, errorf(400, "Could not read the request body: %v", err)
	}
	return b, nil
}

func (a *Handler) list(w http.ResponseWriter, r *http.Request) {
	if err := a.authorize(r, RuleGetImages, nil); err != nil {
		writeError(w, err)
		return
	}
	_, v := a.caller(r)
	q := r.URL.Query()
	lq := image.ListQuery{Viewer: v, Name: q.Get("name"), Status: q.Get("status"), Visibility: q.Get("visibility"),
		Owner: q.Get("owner"), DiskFormat: q.Get("disk_format"), ContainerFormat: q.Get("container_format"),
		Tags: q["tag"], Marker: q.Get("marker"), Limit: a.opts.DefaultLimit, MemberStatus: q.Get("member_status")}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			writeError(w, errorf(400, "limit param must be a non-negative integer"))
			return
		}
		lq.Limit = n
	}
	lq.Limit = min(lq.Limit, a.opts.MaxLimit)
	if lq.Limit == 0 {
		lq.Limit = a.opts.MaxLimit
	}
	if s := q.Get("os_hidden"); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			writeError(w, errorf(400, "os_hidden must be true or false"))
			return
		}
		lq.Hidden = b
	}
	if sort := q.Get("sort"); sort != "" {
		if q.Has("sort_key") || q.Has("sort_dir") {
			writeError(w, errorf(400, "The sort param cannot be used with sort_key or sort_dir."))
			return
		}
		for part := range strings.SplitSeq(sort, ",") {
			k, d, _ := strings.Cut(strings.TrimSpace(part), ":")
			if d == "" {
				d = "desc"
			}
			lq.SortKeys, lq.SortDirs = append(lq.SortKeys, k), append(lq.SortDirs, d)
		}
	} else {
		lq.SortKeys, lq.SortDirs = q["sort_key"], q["sort_dir"]
		if len(lq.SortDirs) > 1 && len(lq.SortDirs) != len(lq.SortKeys) {
			writeError(w, errorf(400, "Number of sort_dir parameters must match sort_key parameters."))
			return
		}
	}
	// Glance's in: operator: name=in:a,b or id=in:"x","y".
	for _, field := range []string{"id", "name", "status", "disk_format", "container_format", "owner"} {
		if v := q.Get(field); strings.HasPrefix(v, "in:") {
			if lq.In == nil {
				lq.In = map[string][]string{}
			}
			for part := range strings.SplitSeq(strings.TrimPrefix(v, "in:"), ",") {
				lq.In[field] = append(lq.In[field], strings.Trim(strings.TrimSpace(part), `"`))
			}
			switch field {
			case "name":
				lq.Name = ""
			case "status":
				lq.Status = ""
			case "disk_format":
				lq.DiskFormat = ""
			case "container_format":
				lq.ContainerFormat = ""
			case "owner":
				lq.Owner = ""
			}
		} else if field == "id" && v != "" {
			if lq.In == nil {
				lq.In = map[string][]string{}
			}
			lq.In["id"] = []string{v}
		}
	}
	known := []string{"id", "name", "status", "visibility", "owner", "disk_format", "container_format", "tag", "marker",
		"limit", "sort", "sort_key", "sort_dir", "os_hidden", "member_status"}
	for k, vals := range q {
		if !slices.Contains(known, k) && len(vals) > 0 {
			if lq.Properties == nil {
				lq.Properties = map[string]string{}
			}
			lq.Properties[k] = vals[0]
		}
	}
	imgs, more, err := a.store.List(r.Context(), lq)
	if err != nil {
		if errors.Is(err, compute.ErrNotFound) {
			err = errorf(400, "marker %s could not be found.", lq.Marker)
		}
		writeError(w, err)
		return
	}
	out := make([]any, len(imgs))
	for i := range imgs {
		out[i] = view(&imgs[i])
	}
	body := map[string]any{"images": out, "schema": "/v2/schemas/images", "first": "/v2/images"}
	if q.Encode() != "" {
		body["first"] = "/v2/images?" + withoutMarker(q).Encode()
	}
	if more {
		nq := withoutMarker(q)
		nq.Set("marker", imgs[len(imgs)-1].ID)
		nq.Set("limit", strconv.Itoa(lq.Limit))
		body["next"] = "/v2/images?" + nq.Encode()
	}
	writeJSON(w, http.StatusOK, body)
}

func withoutMarker(q url.Values) url.Values {
	n := url.Values{}
	for k, v := range q {
		if k != "marker" {
			n[k] = v
		}
	}
	return n
}

func (a *Handler) create(w http.ResponseWriter, r *http.Request) {
	c, v := a.caller(r)
	b, err := a.readBody(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	mayPublicize := a.authorize(r, RulePublicizeImage, &image.Image{Owner: c.ProjectID}) == nil
	img, err := parseCreate(b, mayPublicize)
	if err != nil {
		writeError(w, err)
		return
	}
	switch {
	case img.Owner == "":
		img.Owner = c.ProjectID
	case img.Owner != c.ProjectID && !v.Admin:
		writeError(w, errorf(403, "You are not permitted to create images owned by '%s'.", img.Owner))
		return
	}
	if err := a.authorize(r, RuleAddImage, &image.Image{Owner: img.Owner}); err != nil {
		writeError(w, err)
		return
	}
	if img.Visibility == image.Community {
		if err := a.authorize(r, RuleCommunitizeImage, &image.Image{Owner: img.Owner}); err != nil {
			writeError(w, err)
			return
		}
	}
	created, err := a.store.Create(r.Context(), img)
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Location", "/v2/images/"+created.ID)
	writeJSON(w, http.StatusCreated, view(&created))
}

func (a *Handler) show(w http.ResponseWriter, r *http.Request) {
	img, err := a.visible(r, r.PathValue("id"), RuleGetImage)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, view(&img))
}

func (a *Handler) patch(w http.ResponseWriter, r *http.Request) {
	ct, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";")
	ct = strings.TrimSpace(ct)
	if ct != "application/openstack-images-v2.1-json-patch" && ct != "application/openstack-images-v2.0-json-patch" {
		writeError(w, errorf(415, "Unsupported Content-Type %q: use application/openstack-images-v2.1-json-patch.", ct))
		return
	}
	id := r.PathValue("id")
	cur, err := a.modifiable(r, id, RuleModifyImage)
	if err != nil {
		writeError(w, err)
		return
	}
	c, v := a.caller(r)
	mayPublicize := a.authorize(r, RulePublicizeImage, &cur) == nil
	b, err := a.readBody(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	ops, err := parsePatch(b)
	if err != nil {
		writeError(w, err)
		return
	}
	img, err := a.store.Update(r.Context(), id, func(img *image.Image) error {
		old := *img
		if err := applyPatch(img, ops, mayPublicize); err != nil {
			return err
		}
		if img.Owner != old.Owner && !v.Admin && img.Owner != c.ProjectID {
			return errorf(403, "You are not permitted to change the owner of image %s.", id)
		}
		if img.Visibility == image.Community && old.Visibility != image.Community {
			return a.authorize(r, RuleCommunitizeImage, &old)
		}
		return nil
	})
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, view(&img))
}

func (a *Handler) delete(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, err := a.modifiable(r, id, RuleDeleteImage); err != nil {
		writeError(w, err)
		return
	}
	if err := a.store.Delete(r.Context(), id); err != nil {
		if errors.Is(err, image.ErrProtected) {
			err = errorf(403, "Image %s is protected and cannot be deleted.", id)
		}
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *Handler) upload(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/octet-stream") {
		writeError(w, errorf(415, "Content-Type must be application/octet-stream, not %q.", ct))
		return
	}
	if _, err := a.modifiable(r, id, RuleUploadImage); err != nil {
		writeError(w, err)
		return
	}
	if err := a.store.Upload(r.Context(), id, r.Body); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *Handler) download(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	img, err := a.visible(r, id, RuleDownloadImage)
	if err != nil {
		writeError(w, err)
		return
	}
	if _, v := a.caller(r); img.Status == image.StatusDeactivated && !v.Admin {
		writeError(w, errorf(403, "The requested image has been deactivated. Image data download is forbidden."))
		return
	}
	rc, err := a.store.Download(r.Context(), id)
	if errors.Is(err, image.ErrNoData) {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if err != nil {
		writeError(w, err)
		return
	}
	defer rc.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	if img.Checksum != "" {
		w.Header().Set("Content-MD5", img.Checksum)
	}
	if rs, ok := rc.(io.ReadSeeker); ok {
		http.ServeContent(w, r, "", img.UpdatedAt, rs)
		return
	}
	if img.Size != nil {
		w.Header().Set("Content-Length", strconv.FormatInt(*img.Size, 10))
	}
	w.WriteHeader(http.StatusOK)
	_, _ = io.Copy(w, rc)
}

func (a *Handler) addTag(w http.ResponseWriter, r *http.Request) {
	a.changeTags(w, r, func(img *image.Image, tag string) error {
		if !slices.Contains(img.Tags, tag) {
			img.Tags = append(img.Tags, tag)
		}
		return nil
	})
}

func (a *Handler) deleteTag(w http.ResponseWriter, r *http.Request) {
	a.changeTags(w, r, func(img *image.Image, tag string) error {
		i := slices.Index(img.Tags, tag)
		if i < 0 {
			return errorf(404, "Tag %s not found.", tag)
		}
		img.Tags = slices.Delete(img.Tags, i, i+1)
		return nil
	})
}

func (a *Handler) changeTags(w http.ResponseWriter, r *http.Request, fn func(*image.Image, string) error) {
	id, tag := r.PathValue("id"), r.PathValue("tag")
	if _, err := a.modifiable(r, id, RuleModifyImage); err != nil {
		writeError(w, err)
		return
	}
	if _, err := a.store.Update(r.Context(), id, func(img *image.Image) error { return fn(img, tag) }); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *Handler) action(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	rule := map[string]string{"deactivate": RuleDeactivate, "reactivate": RuleReactivate}[r.PathValue("action")]
	if rule == "" {
		writeError(w, errorf(404, "Unknown action %q.", r.PathValue("action")))
		return
	}
	if _, err := a.visible(r, id, rule); err != nil {
		writeError(w, err)
		return
	}
	var err error
	if rule == RuleDeactivate {
		_, err = a.store.Deactivate(r.Context(), id)
	} else {
		_, err = a.store.Reactivate(r.Context(), id)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
