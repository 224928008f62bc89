package api

import (
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/novakit/novakit/identity"
	"github.com/novakit/novakit/image"
)

// FuzzRequests: arbitrary methods, paths, query strings and bodies never
// make the handler panic or answer 5xx.
func FuzzRequests(f *testing.F) {
	f.Add("GET", "/v2/images", "name=in:a,\"b\"&sort=name:asc,created_at&limit=3&marker=x", "")
	f.Add("GET", "/v2/images", "sort_key=name&sort_key=size&sort_dir=asc&sort_dir=up&tag=a&os_hidden=maybe", "")
	f.Add("POST", "/v2/images", "", `{"name":"x","disk_format":"raw","container_format":"bare"}`)
	f.Add("PATCH", "/v2/images/"+image.DefaultImageID, "", `[{"op":"add","path":"/a","value":"b"}]`)
	f.Add("PUT", "/v2/images/"+image.DefaultImageID+"/tags/x", "", "")
	f.Add("POST", "/v2/images/"+image.DefaultImageID+"/members", "", `{"member":"p2"}`)
	s, err := image.Open(f.TempDir(), image.Options{MaxImageSize: 1 << 20})
	if err != nil {
		f.Fatal(err)
	}
	if _, err := image.Seed(f.Context(), s, "alice"); err != nil {
		f.Fatal(err)
	}
	h, err := New(s, Options{Authenticator: identity.NoAuth()})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, method, path, query, body string) {
		switch method {
		case "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD":
		default:
			return
		}
		u := &url.URL{Path: path, RawQuery: query}
		if !strings.HasPrefix(path, "/") || strings.ContainsAny(path, " \t\r\n") {
			return
		}
		req := httptest.NewRequest(method, "http://glance"+u.EscapedPath()+"?"+url.Values(mustParse(query)).Encode(), strings.NewReader(body))
		req.Header.Set("X-Auth-Token", "alice")
		if method == "PATCH" {
			req.Header.Set("Content-Type", "application/openstack-images-v2.1-json-patch")
		}
		if method == "PUT" && strings.HasSuffix(path, "/file") {
			req.Header.Set("Content-Type", "application/octet-stream")
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s?%s: %d %s", method, path, query, rec.Code, rec.Body)
		}
	})
}

func mustParse(q string) url.Values {
	v, err := url.ParseQuery(q)
	if err != nil {
		return url.Values{}
	}
	return v
}
