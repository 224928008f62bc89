package api_test

import (
	"net/http/httptest"
	"testing"

	"github.com/novakit/novakit/placement"
	"github.com/novakit/novakit/placement/api"
)

func TestCORS(t *testing.T) {
	h := api.New(placement.New(placement.Options{}), api.Options{Authenticator: api.NoAuth(),
		CORS: &api.CORS{AllowedOrigins: []string{"https://dash.example"}, AllowCredentials: true}})
	pre := func(origin, method, headers string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("OPTIONS", "/resource_providers", nil)
		r.Header.Set("Origin", origin)
		r.Header.Set("Access-Control-Request-Method", method)
		if headers != "" {
			r.Header.Set("Access-Control-Request-Headers", headers)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	w := pre("https://dash.example", "GET", "X-Auth-Token, OpenStack-API-Version")
	if w.Code != 200 || w.Header().Get("Access-Control-Allow-Origin") != "https://dash.example" ||
		w.Header().Get("Access-Control-Allow-Methods") != "GET" || w.Header().Get("Access-Control-Max-Age") != "3600" {
		t.Fatalf("preflight: %d %v", w.Code, w.Header())
	}
	for _, bad := range []*httptest.ResponseRecorder{
		pre("https://evil.example", "GET", ""),
		pre("https://dash.example", "TRACE", ""),
		pre("https://dash.example", "GET", "X-Secret"),
	} {
		if bad.Header().Get("Access-Control-Allow-Origin") != "" {
			t.Fatalf("refused preflight allowed: %v", bad.Header())
		}
	}
	r := httptest.NewRequest("GET", "/resource_providers", nil)
	r.Header.Set("Origin", "https://dash.example")
	r.Header.Set("X-Auth-Token", "admin")
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 200 || w.Header().Get("Access-Control-Allow-Origin") != "https://dash.example" ||
		w.Header().Get("Access-Control-Expose-Headers") == "" || w.Header().Get("Access-Control-Allow-Credentials") != "true" {
		t.Fatalf("actual: %d %v", w.Code, w.Header())
	}
	// Without CORS an OPTIONS is an ordinary (unauthenticated) request.
	h2 := api.New(placement.New(placement.Options{}), api.Options{Authenticator: api.NoAuth()})
	r = httptest.NewRequest("OPTIONS", "/resource_providers", nil)
	r.Header.Set("Origin", "https://dash.example")
	r.Header.Set("Access-Control-Request-Method", "GET")
	w = httptest.NewRecorder()
	h2.ServeHTTP(w, r)
	if w.Code != 401 || w.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("no cors: %d %v", w.Code, w.Header())
	}
}
