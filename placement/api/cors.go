package api

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// CORS configures cross-origin requests as oslo.middleware's cors filter
// does for Placement ([cors] allowed_origin and friends). A nil *CORS in
// Options disables it.
type CORS struct {
	// AllowedOrigins lists the origins allowed ("*" allows any).
	AllowedOrigins []string
	// AllowCredentials sets Access-Control-Allow-Credentials (Placement's
	// default is true).
	AllowCredentials bool
	// MaxAge of a preflight answer in seconds (0: 3600).
	MaxAge int
	// AllowMethods (nil: GET, PUT, POST, DELETE, PATCH).
	AllowMethods []string
	// AllowHeaders (nil: Placement's set_defaults: X-Auth-Token,
	// X-Openstack-Request-Id, OpenStack-API-Version).
	AllowHeaders []string
	// ExposeHeaders (nil: the same three).
	ExposeHeaders []string
}

var placementCORSHeaders = []string{"X-Auth-Token", "X-Openstack-Request-Id", "OpenStack-API-Version"}

func (c *CORS) withDefaults() *CORS {
	if c == nil {
		return nil
	}
	d := *c
	if d.MaxAge == 0 {
		d.MaxAge = 3600
	}
	if d.AllowMethods == nil {
		d.AllowMethods = []string{"GET", "PUT", "POST", "DELETE", "PATCH"}
	}
	if d.AllowHeaders == nil {
		d.AllowHeaders = placementCORSHeaders
	}
	if d.ExposeHeaders == nil {
		d.ExposeHeaders = placementCORSHeaders
	}
	return &d
}

func (c *CORS) originAllowed(o string) bool {
	return o != "" && (slices.Contains(c.AllowedOrigins, "*") || slices.Contains(c.AllowedOrigins, o))
}

// handle applies CORS to a request; it reports true when it answered a
// preflight request itself.
func (c *CORS) handle(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	h := w.Header()
	if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
		h.Add("Vary", "Origin")
		if !c.originAllowed(origin) {
			w.WriteHeader(http.StatusOK)
			return true
		}
		method := r.Header.Get("Access-Control-Request-Method")
		if !slices.Contains(c.AllowMethods, method) {
			w.WriteHeader(http.StatusOK)
			return true
		}
		for _, rh := range strings.Split(r.Header.Get("Access-Control-Request-Headers"), ",") {
			rh = strings.TrimSpace(rh)
			if rh != "" && !slices.ContainsFunc(c.AllowHeaders, func(a string) bool { return strings.EqualFold(a, rh) }) {
				w.WriteHeader(http.StatusOK)
				return true
			}
		}
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Allow-Methods", method)
		if rh := r.Header.Get("Access-Control-Request-Headers"); rh != "" {
			h.Set("Access-Control-Allow-Headers", rh)
		}
		h.Set("Access-Control-Max-Age", strconv.Itoa(c.MaxAge))
		if c.AllowCredentials {
			h.Set("Access-Control-Allow-Credentials", "true")
		}
		w.WriteHeader(http.StatusOK)
		return true
	}
	if c.originAllowed(origin) {
		h.Add("Vary", "Origin")
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Expose-Headers", strings.Join(c.ExposeHeaders, ","))
		if c.AllowCredentials {
			h.Set("Access-Control-Allow-Credentials", "true")
		}
	}
	return false
}
