package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novakit/novakit/identity"
	"github.com/novakit/novakit/image"
	"github.com/novakit/novakit/image/api"
)

const patchType = "application/openstack-images-v2.1-json-patch"

type client struct {
	t   *testing.T
	h   http.Handler
	tok string
}

func newHandler(t *testing.T) (http.Handler, *image.Store) {
	t.Helper()
	s, err := image.Open(t.TempDir(), image.Options{MaxImageSize: 1 << 20})
	require.NoError(t, err)
	h, err := api.New(s, api.Options{Authenticator: identity.NoAuth(), AuthURI: "http://keystone:5000", DefaultLimit: 2})
	require.NoError(t, err)
	return h, s
}

func (c client) do(method, path, ctype string, body any) (int, http.Header, []byte) {
	c.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		require.NoError(c.t, err)
		rd = bytes.NewReader(j)
	}
	req := httptest.NewRequest(method, path, rd)
	if c.tok != "" {
		req.Header.Set("X-Auth-Token", c.tok)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	rec := httptest.NewRecorder()
	c.h.ServeHTTP(rec, req)
	return rec.Code, rec.Header(), rec.Body.Bytes()
}

func (c client) json(method, path, ctype string, body any, want int) map[string]any {
	c.t.Helper()
	code, _, b := c.do(method, path, ctype, body)
	require.Equal(c.t, want, code, "%s %s: %s", method, path, b)
	var m map[string]any
	if len(b) > 0 {
		require.NoError(c.t, json.Unmarshal(b, &m), string(b))
	}
	return m
}

func TestImageLifecycle(t *testing.T) {
	t.Parallel()
	h, _ := newHandler(t)
	alice := client{t, h, "alice:p1"}
	img := alice.json("POST", "/v2/images", "application/json", map[string]any{
		"name": "disk", "disk_format": "raw", "container_format": "bare", "tags": []string{"t1"},
		"hw_disk_bus": "virtio", "min_ram": 64}, 201)
	id := img["id"].(string)
	assert.Equal(t, "queued", img["status"])
	assert.Equal(t, "p1", img["owner"])
	assert.Equal(t, "shared", img["visibility"])
	assert.Nil(t, img["size"])
	assert.Nil(t, img["checksum"])
	assert.Equal(t, "virtio", img["hw_disk_bus"])
	assert.Equal(t, "/v2/images/"+id+"/file", img["file"])
	assert.Regexp(t, `^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`, img["created_at"])

	code, _, _ := alice.do("GET", "/v2/images/"+id+"/file", "", nil)
	assert.Equal(t, 204, code, "no data yet")
	code, _, b := alice.do("PUT", "/v2/images/"+id+"/file", "text/plain", "data")
	assert.Equal(t, 415, code, string(b))
	code, _, b = alice.do("PUT", "/v2/images/"+id+"/file", "application/octet-stream", "0123456789")
	require.Equal(t, 204, code, string(b))
	code, _, b = alice.do("PUT", "/v2/images/"+id+"/file", "application/octet-stream", "again")
	assert.Equal(t, 409, code, string(b))
	code, hdr, b := alice.do("GET", "/v2/images/"+id+"/file", "", nil)
	require.Equal(t, 200, code)
	assert.Equal(t, "0123456789", string(b))
	assert.Equal(t, "781e5e245d69b566979b86e28d23f2c7", hdr.Get("Content-Md5"))
	assert.Equal(t, "10", hdr.Get("Content-Length"))

	img = alice.json("PATCH", "/v2/images/"+id, patchType, []map[string]any{
		{"op": "replace", "path": "/name", "value": "renamed"},
		{"op": "add", "path": "/os_distro", "value": "cirros"},
		{"op": "remove", "path": "/hw_disk_bus"},
		{"op": "replace", "path": "/tags", "value": []string{"a", "b"}},
		{"op": "replace", "path": "/protected", "value": true},
	}, 200)
	assert.Equal(t, "renamed", img["name"])
	assert.Equal(t, "cirros", img["os_distro"])
	assert.NotContains(t, img, "hw_disk_bus")
	assert.Equal(t, []any{"a", "b"}, img["tags"])
	assert.EqualValues(t, 10, img["size"])
	assert.Equal(t, "active", img["status"])

	code, _, _ = alice.do("PUT", "/v2/images/"+id+"/tags/c", "", nil)
	assert.Equal(t, 204, code)
	code, _, _ = alice.do("DELETE", "/v2/images/"+id+"/tags/a", "", nil)
	assert.Equal(t, 204, code)
	code, _, _ = alice.do("DELETE", "/v2/images/"+id+"/tags/zzz", "", nil)
	assert.Equal(t, 404, code)
	img = alice.json("GET", "/v2/images/"+id, "", nil, 200)
	assert.Equal(t, []any{"b", "c"}, img["tags"])

	e := alice.json("DELETE", "/v2/images/"+id, "", nil, 403)
	assert.Equal(t, "403 Forbidden", e["code"])
	assert.Contains(t, e["message"], "protected")
	alice.json("PATCH", "/v2/images/"+id, "application/openstack-images-v2.0-json-patch", []map[string]any{
		{"replace": "/protected", "value": false}}, 200)
	code, _, _ = alice.do("DELETE", "/v2/images/"+id, "", nil)
	assert.Equal(t, 204, code)
	e = alice.json("GET", "/v2/images/"+id, "", nil, 404)
	assert.Equal(t, "Not Found", e["title"])
}

func TestBadRequests(t *testing.T) {
	t.Parallel()
	h, _ := newHandler(t)
	alice := client{t, h, "alice:p1"}
	id := alice.json("POST", "/v2/images", "", map[string]any{"name": "x"}, 201)["id"].(string)
	for _, tc := range []struct {
		method, path, ctype string
		body                any
		code                int
		mention             string
	}{
		{"POST", "/v2/images", "", map[string]any{"status": "active"}, 403, "status"},
		{"POST", "/v2/images", "", map[string]any{"size": 3}, 403, "size"},
		{"POST", "/v2/images", "", map[string]any{"disk_format": "exe"}, 400, "disk_format"},
		{"POST", "/v2/images", "", map[string]any{"min_disk": -1}, 400, "min_disk"},
		{"POST", "/v2/images", "", map[string]any{"min_disk": "big"}, 400, "min_disk"},
		{"POST", "/v2/images", "", map[string]any{"protected": "yes"}, 400, "protected"},
		{"POST", "/v2/images", "", map[string]any{"tags": "x"}, 400, "tags"},
		{"POST", "/v2/images", "", map[string]any{"my_prop": 3}, 400, "my_prop"},
		{"POST", "/v2/images", "", map[string]any{"visibility": "public"}, 403, "public"},
		{"POST", "/v2/images", "", map[string]any{"owner": "p2"}, 403, "p2"},
		{"POST", "/v2/images", "", map[string]any{"id": "nope"}, 400, "id"},
		{"POST", "/v2/images", "", map[string]any{"id": id}, 409, id},
		{"POST", "/v2/images", "", "[1]", 400, "object"},
		{"POST", "/v2/images", "", strings.Repeat(" ", 70<<10), 413, "larger"},
		{"PATCH", "/v2/images/" + id, "application/json", "[]", 415, "json-patch"},
		{"PATCH", "/v2/images/" + id, patchType, `{"op":"replace"}`, 400, "array"},
		{"PATCH", "/v2/images/" + id, patchType, `[{"op":"move","path":"/name","value":"x"}]`, 400, "move"},
		{"PATCH", "/v2/images/" + id, patchType, `[{"op":"replace","path":"/name"}]`, 400, "value"},
		{"PATCH", "/v2/images/" + id, patchType, `[{"op":"replace","path":"name","value":"x"}]`, 400, "path"},
		{"PATCH", "/v2/images/" + id, patchType, `[{"op":"replace","path":"/a/b","value":"x"}]`, 400, "path"},
		{"PATCH", "/v2/images/" + id, patchType, `[{"op":"replace","path":"/status","value":"active"}]`, 403, "status"},
		{"PATCH", "/v2/images/" + id, patchType, `[{"op":"remove","path":"/name"}]`, 403, "name"},
		{"PATCH", "/v2/images/" + id, patchType, `[{"op":"remove","path":"/nothing"}]`, 409, "nothing"},
		{"PATCH", "/v2/images/" + id, patchType, `[{"op":"replace","path":"/nothing","value":"x"}]`, 409, "nothing"},
		{"PATCH", "/v2/images/" + id, patchType, `[{"op":"replace","path":"/visibility","value":"public"}]`, 403, "public"},
		{"PATCH", "/v2/images/" + id, patchType, `[{"op":"replace","path":"/id","value":"x"}]`, 403, "id"},
		{"PATCH", "/v2/images/" + id, patchType, `[{"op":"add","path":"/locations/-","value":{}}]`, 403, "locations"},
		{"PUT", "/v2/images/" + id + "/file", "application/octet-stream", "data", 400, "disk_format"},
		{"GET", "/v2/images?sort_key=colour", "", nil, 400, "colour"},
		{"GET", "/v2/images?sort_dir=up", "", nil, 400, "up"},
		{"GET", "/v2/images?limit=-1", "", nil, 400, "limit"},
		{"GET", "/v2/images?marker=nope", "", nil, 400, "nope"},
		{"GET", "/v2/images?sort=name:asc&sort_key=name", "", nil, 400, "sort"},
		{"POST", "/v2/images/" + id + "/actions/deactivate", "", nil, 403, "deactivate"},
		{"GET", "/v2/nothing", "", nil, 404, "could not be found"},
	} {
		t.Run(tc.method+" "+tc.path+" "+fmt.Sprint(tc.body), func(t *testing.T) {
			code, hdr, b := alice.do(tc.method, tc.path, tc.ctype, tc.body)
			require.Equal(t, tc.code, code, string(b))
			assert.Equal(t, "application/json; charset=UTF-8", hdr.Get("Content-Type"))
			var e struct{ Message, Code, Title string }
			require.NoError(t, json.Unmarshal(b, &e), string(b))
			assert.Contains(t, e.Message, tc.mention)
			assert.Equal(t, fmt.Sprintf("%d %s", tc.code, http.StatusText(tc.code)), e.Code)
		})
	}
	// Nothing above changed the image.
	img := alice.json("GET", "/v2/images/"+id, "", nil, 200)
	assert.Equal(t, "x", img["name"])
	assert.Equal(t, "queued", img["status"])
}

func TestVisibility(t *testing.T) {
	t.Parallel()
	h, _ := newHandler(t)
	alice, bob, admin := client{t, h, "alice:p1"}, client{t, h, "bob:p2"}, client{t, h, "admin"}
	mk := func(c client, name, vis string) string {
		return c.json("POST", "/v2/images", "", map[string]any{"name": name, "visibility": vis,
			"disk_format": "raw", "container_format": "bare"}, 201)["id"].(string)
	}
	priv := mk(alice, "a-private", "private")
	shared := mk(alice, "a-shared", "shared")
	comm := mk(alice, "a-community", "community")
	pub := mk(admin, "public", "public")
	names := func(c client, query string) []string {
		var out []string
		path := "/v2/images?limit=100" + query
		m := c.json("GET", path, "", nil, 200)
		for _, i := range m["images"].([]any) {
			out = append(out, i.(map[string]any)["name"].(string))
		}
		return out
	}
	assert.ElementsMatch(t, []string{"a-private", "a-shared", "a-community", "public"}, names(alice, ""))
	assert.ElementsMatch(t, []string{"public"}, names(bob, ""))
	assert.ElementsMatch(t, []string{"a-community"}, names(bob, "&visibility=community"))
	assert.Empty(t, names(bob, "&visibility=private"))
	assert.ElementsMatch(t, []string{"a-private", "a-shared", "a-community", "public"}, names(admin, ""))
	for _, id := range []string{priv, shared} {
		bob.json("GET", "/v2/images/"+id, "", nil, 404)
		bob.json("PATCH", "/v2/images/"+id, patchType, `[{"op":"replace","path":"/name","value":"x"}]`, 404)
		bob.json("DELETE", "/v2/images/"+id, "", nil, 404)
	}
	bob.json("GET", "/v2/images/"+comm, "", nil, 200)
	bob.json("GET", "/v2/images/"+pub, "", nil, 200)
	bob.json("PATCH", "/v2/images/"+comm, patchType, `[{"op":"replace","path":"/name","value":"x"}]`, 403)
	bob.json("DELETE", "/v2/images/"+pub, "", nil, 403)
	code, _, _ := bob.do("PUT", "/v2/images/"+pub+"/file", "application/octet-stream", "x")
	assert.Equal(t, 403, code)
	admin.json("PATCH", "/v2/images/"+priv, patchType, `[{"op":"replace","path":"/name","value":"by-admin"}]`, 200)

	// Deactivated images: only admins download.
	code, _, _ = admin.do("PUT", "/v2/images/"+pub+"/file", "application/octet-stream", "bits")
	require.Equal(t, 204, code)
	code, _, _ = admin.do("POST", "/v2/images/"+pub+"/actions/deactivate", "", nil)
	require.Equal(t, 204, code)
	code, _, _ = bob.do("GET", "/v2/images/"+pub+"/file", "", nil)
	assert.Equal(t, 403, code)
	code, _, _ = admin.do("GET", "/v2/images/"+pub+"/file", "", nil)
	assert.Equal(t, 200, code)
	code, _, _ = admin.do("POST", "/v2/images/"+pub+"/actions/reactivate", "", nil)
	require.Equal(t, 204, code)
	code, _, _ = bob.do("GET", "/v2/images/"+pub+"/file", "", nil)
	assert.Equal(t, 200, code)
}

func TestPagingAndFilters(t *testing.T) {
	t.Parallel()
	h, _ := newHandler(t)
	alice := client{t, h, "alice:p1"}
	for i := range 5 {
		alice.json("POST", "/v2/images", "", map[string]any{"name": fmt.Sprintf("img-%d", i),
			"os_distro": []string{"ubuntu", "cirros"}[i%2]}, 201)
	}
	var got []string
	path := "/v2/images?sort_key=name&sort_dir=asc"
	for path != "" {
		m := alice.json("GET", path, "", nil, 200)
		assert.Equal(t, "/v2/schemas/images", m["schema"])
		imgs := m["images"].([]any)
		assert.LessOrEqual(t, len(imgs), 2, "default limit")
		for _, i := range imgs {
			got = append(got, i.(map[string]any)["name"].(string))
		}
		path, _ = m["next"].(string)
	}
	assert.Equal(t, []string{"img-0", "img-1", "img-2", "img-3", "img-4"}, got)
	m := alice.json("GET", "/v2/images?sort=name:desc&limit=10", "", nil, 200)
	assert.Len(t, m["images"], 5)
	assert.Equal(t, "img-4", m["images"].([]any)[0].(map[string]any)["name"])
	assert.NotContains(t, m, "next")
	m = alice.json("GET", "/v2/images?os_distro=cirros&limit=10", "", nil, 200)
	assert.Len(t, m["images"], 2)
	m = alice.json("GET", "/v2/images?name=img-3", "", nil, 200)
	assert.Len(t, m["images"], 1)
	m = alice.json("GET", "/v2/images?status=active", "", nil, 200)
	assert.Empty(t, m["images"])
	m = alice.json("GET", `/v2/images?name=in:img-1,"img-3",nope&limit=10`, "", nil, 200)
	require.Len(t, m["images"], 2)
	one := m["images"].([]any)[0].(map[string]any)["id"].(string)
	m = alice.json("GET", "/v2/images?id="+one, "", nil, 200)
	assert.Len(t, m["images"], 1)
	m = alice.json("GET", "/v2/images?id=in:"+one+",x&status=in:queued,active&limit=10", "", nil, 200)
	assert.Len(t, m["images"], 1)
}

func TestVersionsAndSchemas(t *testing.T) {
	t.Parallel()
	h, _ := newHandler(t)
	anon := client{t, h, ""}
	m := anon.json("GET", "/", "", nil, 300)
	vs := m["versions"].([]any)
	assert.Equal(t, "v2.16", vs[0].(map[string]any)["id"])
	assert.Equal(t, "CURRENT", vs[0].(map[string]any)["status"])
	anon.json("GET", "/versions", "", nil, 200)
	code, hdr, _ := anon.do("GET", "/v2/schemas/image", "", nil)
	assert.Equal(t, 401, code)
	assert.Equal(t, `Keystone uri="http://keystone:5000"`, hdr.Get("WWW-Authenticate"))
	alice := client{t, h, "alice:p1"}
	s := alice.json("GET", "/v2/schemas/image", "", nil, 200)
	assert.Equal(t, "image", s["name"])
	assert.Contains(t, s["properties"], "os_hash_value")
	s = alice.json("GET", "/v2/schemas/images", "", nil, 200)
	assert.Equal(t, "images", s["name"])
}

func ExampleNew() {
	dir, err := os.MkdirTemp("", "images")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	store, err := image.Open(dir, image.Options{})
	if err != nil {
		panic(err)
	}
	if _, err := image.Seed(context.Background(), store, ""); err != nil {
		panic(err)
	}
	h, err := api.New(store, api.Options{Authenticator: identity.NoAuth()})
	if err != nil {
		panic(err)
	}
	req := httptest.NewRequest("GET", "/v2/images?name="+image.DefaultImageName, nil)
	req.Header.Set("X-Auth-Token", "alice:demo")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var body struct {
		Images []struct{ Name, Status, Visibility string }
	}
	_ = json.Unmarshal(rec.Body.Bytes(), &body)
	fmt.Println(rec.Code, body.Images)
	// Output: 200 [{cirros-0.6.3-x86_64-disk active public}]
}

func TestMembers(t *testing.T) {
	t.Parallel()
	h, _ := newHandler(t)
	alice, bob, carol := client{t, h, "alice:p1"}, client{t, h, "bob:p2"}, client{t, h, "carol:p3"}
	id := alice.json("POST", "/v2/images", "", map[string]any{"name": "shared-img", "visibility": "shared"}, 201)["id"].(string)
	priv := alice.json("POST", "/v2/images", "", map[string]any{"name": "private-img", "visibility": "private"}, 201)["id"].(string)
	names := func(c client, query string) []string {
		out := []string{}
		for _, i := range c.json("GET", "/v2/images?limit=100"+query, "", nil, 200)["images"].([]any) {
			out = append(out, i.(map[string]any)["name"].(string))
		}
		return out
	}
	bob.json("GET", "/v2/images/"+id, "", nil, 404)
	bob.json("POST", "/v2/images/"+id+"/members", "", map[string]string{"member": "p2"}, 404)
	alice.json("POST", "/v2/images/"+priv+"/members", "", map[string]string{"member": "p2"}, 403)
	m := alice.json("POST", "/v2/images/"+id+"/members", "", map[string]string{"member": "p2"}, 200)
	assert.Equal(t, "pending", m["status"])
	assert.Equal(t, "p2", m["member_id"])
	alice.json("POST", "/v2/images/"+id+"/members", "", map[string]string{"member": "p2"}, 409)
	alice.json("POST", "/v2/images/"+id+"/members", "", map[string]string{"member": "p3"}, 200)
	alice.json("POST", "/v2/images/"+id+"/members", "", `{"x":1}`, 400)

	// Pending: bob can see the image but does not list it by default.
	bob.json("GET", "/v2/images/"+id, "", nil, 200)
	assert.Empty(t, names(bob, ""))
	assert.Equal(t, []string{"shared-img"}, names(bob, "&member_status=pending"))
	assert.Len(t, alice.json("GET", "/v2/images/"+id+"/members", "", nil, 200)["members"], 2)
	assert.Len(t, bob.json("GET", "/v2/images/"+id+"/members", "", nil, 200)["members"], 1)
	alice.json("PUT", "/v2/images/"+id+"/members/p2", "", map[string]string{"status": "accepted"}, 403)
	carol.json("PUT", "/v2/images/"+id+"/members/p2", "", map[string]string{"status": "accepted"}, 404)
	bob.json("PUT", "/v2/images/"+id+"/members/p2", "", map[string]string{"status": "maybe"}, 400)
	m = bob.json("PUT", "/v2/images/"+id+"/members/p2", "", map[string]string{"status": "accepted"}, 200)
	assert.Equal(t, "accepted", m["status"])
	assert.Equal(t, []string{"shared-img"}, names(bob, ""))
	assert.Equal(t, []string{"shared-img"}, names(bob, "&visibility=shared"))
	assert.Empty(t, names(carol, ""))
	bob.json("GET", "/v2/images/"+id+"/members/p3", "", nil, 404)
	bob.json("GET", "/v2/images/"+id+"/members/p2", "", nil, 200)
	// A member may look but not touch.
	bob.json("PATCH", "/v2/images/"+id, patchType, `[{"op":"replace","path":"/name","value":"x"}]`, 403)
	bob.json("DELETE", "/v2/images/"+id+"/members/p2", "", nil, 403)

	code, _, _ := alice.do("DELETE", "/v2/images/"+id+"/members/p2", "", nil)
	assert.Equal(t, 204, code)
	bob.json("GET", "/v2/images/"+id, "", nil, 404)
	alice.json("DELETE", "/v2/images/"+id+"/members/p2", "", nil, 404)
	alice.json("GET", "/v2/schemas/members", "", nil, 200)
}

// TestPolicy: Glance's admin/member/reader defaults, and an operator
// override.
func TestPolicy(t *testing.T) {
	t.Parallel()
	s, err := image.Open(t.TempDir(), image.Options{})
	require.NoError(t, err)
	auth := identity.AuthenticatorFunc(func(_ context.Context, tok string) (*identity.Credentials, error) {
		user, roles, _ := strings.Cut(tok, ":")
		return &identity.Credentials{UserID: user, ProjectID: "p1", Roles: strings.Split(roles, ",")}, nil
	})
	pol := api.DefaultPolicy()
	h, err := api.New(s, api.Options{Authenticator: auth, Policy: pol})
	require.NoError(t, err)
	member, reader := client{t, h, "m:member,reader"}, client{t, h, "r:reader"}
	id := member.json("POST", "/v2/images", "", map[string]any{"name": "x", "disk_format": "raw", "container_format": "bare"}, 201)["id"].(string)
	code, _, _ := member.do("PUT", "/v2/images/"+id+"/file", "application/octet-stream", "data")
	require.Equal(t, 204, code)

	reader.json("GET", "/v2/images", "", nil, 200)
	reader.json("GET", "/v2/images/"+id, "", nil, 200)
	e := reader.json("POST", "/v2/images", "", map[string]any{"name": "y"}, 403)
	assert.Contains(t, e["message"], "add_image")
	reader.json("PATCH", "/v2/images/"+id, patchType, `[{"op":"replace","path":"/name","value":"z"}]`, 403)
	reader.json("DELETE", "/v2/images/"+id, "", nil, 403)
	reader.json("PUT", "/v2/images/"+id+"/tags/t", "", nil, 403)
	code, _, _ = reader.do("GET", "/v2/images/"+id+"/file", "", nil)
	assert.Equal(t, 403, code, "download_image needs member")
	member.json("POST", "/v2/images", "", map[string]any{"name": "c", "visibility": "community"}, 201)
	member.json("POST", "/v2/images", "", map[string]any{"name": "p", "visibility": "public"}, 403)

	require.NoError(t, pol.SetOverrides(map[string]string{api.RuleDownloadImage: "role:reader", api.RuleCommunitizeImage: "!"}))
	code, _, b := reader.do("GET", "/v2/images/"+id+"/file", "", nil)
	assert.Equal(t, 200, code)
	assert.Equal(t, "data", string(b))
	e = member.json("POST", "/v2/images", "", map[string]any{"name": "c2", "visibility": "community"}, 403)
	assert.Contains(t, e["message"], "communitize_image")
	member.json("PATCH", "/v2/images/"+id, patchType, `[{"op":"replace","path":"/visibility","value":"community"}]`, 403)
}
