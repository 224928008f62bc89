package embedded_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/novakit/novakit/identity/embedded"
)

// FuzzAuthTokens: any body posted to /v3/auth/tokens gets 201, 400 or
// 401 — never a 5xx or a panic — and 201 only for the right password.
func FuzzAuthTokens(f *testing.F) {
	for _, s := range []string{
		`{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"demo","domain":{"name":"Default"},"password":"demopass"}}}}}`,
		`{"auth":{"identity":{"methods":["password"],"password":{"user":{"id":"x","password":"y"}}},"scope":{"project":{"name":"demo","domain":{"id":"default"}}}}}`,
		`{"auth":{"identity":{"methods":["token"],"token":{"id":"abc"}},"scope":"unscoped"}}`,
		`{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"demo","domain":{"id":"default"},"password":"demopass"}}},"scope":{"system":{"all":true}}}}`,
		`{"auth":{}}`, `[]`, `null`, ``,
	} {
		f.Add(s)
	}
	cfg := embedded.AllInOne("secret", "demopass")
	cfg.BcryptCost = bcrypt.MinCost
	iss, err := embedded.New(cfg)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body string) {
		rec := httptest.NewRecorder()
		iss.ServeHTTP(rec, httptest.NewRequest("POST", "/v3/auth/tokens", strings.NewReader(body)))
		switch rec.Code {
		case http.StatusCreated:
			if !strings.Contains(body, "demopass") && !strings.Contains(body, "secret") && !strings.Contains(body, `"token"`) {
				t.Fatalf("201 without a password or token: %s", body)
			}
			if rec.Header().Get("X-Subject-Token") == "" {
				t.Fatal("201 without X-Subject-Token")
			}
		case http.StatusBadRequest, http.StatusUnauthorized:
		default:
			t.Fatalf("status %d for %q: %s", rec.Code, body, rec.Body)
		}
	})
}
