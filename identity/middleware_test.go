package identity_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novakit/novakit/identity"
)

func TestMiddleware(t *testing.T) {
	t.Parallel()
	unreachable := errors.New("dial tcp: connection refused")
	auth := identity.AuthenticatorFunc(func(_ context.Context, tok string) (*identity.Credentials, error) {
		switch tok {
		case "good":
			return &identity.Credentials{UserID: "u1", ProjectID: "p1", Roles: []string{"member"}}, nil
		case "down":
			return nil, unreachable
		default:
			return nil, fmt.Errorf("token %q: %w", tok, identity.ErrUnauthorized)
		}
	})
	h := identity.Middleware(auth, identity.MiddlewareOptions{
		AuthURI: "http://keystone:5000", PublicPaths: []string{"/", "/v2.1"},
		Public: func(r *http.Request) bool { return r.URL.Path == "/healthz" },
	})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := identity.FromContext(r.Context())
		if ok {
			fmt.Fprintf(w, "%s/%s/%s", c.UserID, c.ProjectID, c.Token)
			return
		}
		fmt.Fprint(w, "anonymous")
	}))
	for _, tc := range []struct {
		name, method, path, token string
		code                      int
		body                      string
	}{
		{"valid token", "GET", "/servers", "good", 200, "u1/p1/good"},
		{"missing token", "GET", "/servers", "", 401, ""},
		{"invalid token", "POST", "/servers", "bad", 401, ""},
		{"unreachable validator", "GET", "/servers", "down", 503, ""},
		{"public root", "GET", "/", "", 200, "anonymous"},
		{"public version doc with slash", "GET", "/v2.1/", "", 200, "anonymous"},
		{"public path is GET only", "POST", "/v2.1", "", 401, ""},
		{"public func", "PUT", "/healthz", "", 200, "anonymous"},
		{"public path does not cover children", "GET", "/v2.1/servers", "", 401, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, tc.path, nil)
			if tc.token != "" {
				req.Header.Set("X-Auth-Token", tc.token)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			require.Equal(t, tc.code, rec.Code, rec.Body.String())
			if tc.body != "" {
				assert.Equal(t, tc.body, rec.Body.String())
				return
			}
			var body struct {
				Error struct {
					Code    int    `json:"code"`
					Title   string `json:"title"`
					Message string `json:"message"`
				} `json:"error"`
			}
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
			assert.Equal(t, tc.code, body.Error.Code)
			assert.NotEmpty(t, body.Error.Message)
			if tc.code == 401 {
				assert.Equal(t, `Keystone uri="http://keystone:5000"`, rec.Header().Get("WWW-Authenticate"))
			}
		})
	}
}

func TestNoAuth(t *testing.T) {
	t.Parallel()
	a := identity.NoAuth()
	c, err := a.Authenticate(t.Context(), "admin")
	require.NoError(t, err)
	assert.True(t, c.IsAdmin())
	assert.Equal(t, "admin", c.ProjectID)
	c, err = a.Authenticate(t.Context(), "alice:p2")
	require.NoError(t, err)
	assert.False(t, c.IsAdmin())
	assert.True(t, c.HasRole("MEMBER"))
	assert.Equal(t, "p2", c.ProjectID)
	_, err = a.Authenticate(t.Context(), ":p")
	assert.ErrorIs(t, err, identity.ErrUnauthorized)
}

func ExampleMiddleware() {
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := identity.FromContext(r.Context())
		fmt.Fprintf(w, "hello %s in %s", c.UserID, c.ProjectID)
	})
	h := identity.Middleware(identity.NoAuth(), identity.MiddlewareOptions{
		AuthURI: "http://127.0.0.1:5000", PublicPaths: []string{"/"},
	})(api)

	req := httptest.NewRequest("GET", "/servers", nil)
	req.Header.Set("X-Auth-Token", "alice:demo")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	fmt.Println(rec.Code, rec.Body.String())

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/servers", nil))
	fmt.Println(rec.Code, rec.Header().Get("WWW-Authenticate"))
	// Output:
	// 200 hello alice in demo
	// 401 Keystone uri="http://127.0.0.1:5000"
}
