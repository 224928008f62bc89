package identity

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
)

// MiddlewareOptions configure [Middleware].
type MiddlewareOptions struct {
	// AuthURI is the identity service's public endpoint, advertised to
	// clients in the WWW-Authenticate header of a 401 answer
	// (`Keystone uri="…"`, as keystonemiddleware's www_authenticate_uri).
	AuthURI string
	// PublicPaths are exact URL paths that GET and HEAD requests reach
	// without a token (version documents such as "/" or "/v2.1", health
	// checks). A trailing "/" variant is matched too.
	PublicPaths []string
	// Public, when set, is consulted after PublicPaths: a request for
	// which it returns true passes without a token.
	Public func(r *http.Request) bool
}

// Middleware returns net/http middleware that validates the X-Auth-Token
// header of every request with auth and puts the resulting credentials in
// the request's context (read them with [FromContext]).
//
// A missing or invalid token gets 401 with `WWW-Authenticate: Keystone
// uri="…"` and a Keystone-style JSON error body; an Authenticator error
// that does not wrap [ErrUnauthorized] (identity service unreachable)
// gets 503. Requests the options mark public pass without a token and
// without credentials. The returned middleware is safe for concurrent use
// when auth is.
func Middleware(auth Authenticator, opts MiddlewareOptions) func(http.Handler) http.Handler {
	public := func(r *http.Request) bool {
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			p := r.URL.Path
			if slices.Contains(opts.PublicPaths, p) ||
				(strings.HasSuffix(p, "/") && len(p) > 1 && slices.Contains(opts.PublicPaths, strings.TrimSuffix(p, "/"))) {
				return true
			}
		}
		return opts.Public != nil && opts.Public(r)
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if public(r) {
				next.ServeHTTP(w, r)
				return
			}
			tok := r.Header.Get("X-Auth-Token")
			if tok == "" {
				unauthorized(w, opts.AuthURI)
				return
			}
			creds, err := auth.Authenticate(r.Context(), tok)
			switch {
			case errors.Is(err, ErrUnauthorized):
				unauthorized(w, opts.AuthURI)
				return
			case err != nil:
				WriteError(w, http.StatusServiceUnavailable, "The identity service is unavailable: the token could not be validated.")
				return
			case creds == nil:
				unauthorized(w, opts.AuthURI)
				return
			}
			if creds.Token == "" {
				c := *creds
				c.Token = tok
				creds = &c
			}
			next.ServeHTTP(w, r.WithContext(NewContext(r.Context(), creds)))
		})
	}
}

func unauthorized(w http.ResponseWriter, uri string) {
	if uri != "" {
		w.Header().Set("WWW-Authenticate", `Keystone uri="`+uri+`"`)
	}
	WriteError(w, http.StatusUnauthorized, "The request you have made requires authentication.")
}

// WriteError writes Keystone's error body
// `{"error": {"code": N, "title": "…", "message": "…"}}` with status code.
func WriteError(w http.ResponseWriter, code int, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{
		"code": code, "title": http.StatusText(code), "message": message,
	}})
}
