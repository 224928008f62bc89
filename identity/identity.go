package identity

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"
)

// ErrUnauthorized: the token is missing, malformed, expired, revoked or
// unknown. HTTP front ends answer 401.
var ErrUnauthorized = errors.New("the request you have made requires authentication")

// Credentials describe a validated caller: who they are, which project,
// domain or system their token is scoped to, and their roles there — what
// keystonemiddleware puts in the WSGI environment and oslo.context carries.
type Credentials struct {
	UserID         string `json:"user_id"`
	UserName       string `json:"user_name,omitempty"`
	UserDomainID   string `json:"user_domain_id,omitempty"`
	UserDomainName string `json:"user_domain_name,omitempty"`
	// ProjectID is set for a project-scoped token.
	ProjectID         string `json:"project_id,omitempty"`
	ProjectName       string `json:"project_name,omitempty"`
	ProjectDomainID   string `json:"project_domain_id,omitempty"`
	ProjectDomainName string `json:"project_domain_name,omitempty"`
	// DomainID is set for a domain-scoped token.
	DomainID string `json:"domain_id,omitempty"`
	// SystemScope is "all" for a system-scoped token, "" otherwise.
	SystemScope string `json:"system_scope,omitempty"`
	// Roles are the role names the token carries (lower case as Keystone
	// stores them; compare with HasRole).
	Roles []string `json:"roles,omitempty"`
	// ExpiresAt is when the token stops being valid (zero: unknown).
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	// Token is the token itself, for calls made on the caller's behalf
	// (e.g. to the image service). Never log it.
	Token string `json:"-"`
}

// HasRole reports whether c carries role, compared case-insensitively as
// oslo.policy compares roles.
func (c *Credentials) HasRole(role string) bool {
	if c == nil {
		return false
	}
	return slices.ContainsFunc(c.Roles, func(r string) bool { return strings.EqualFold(r, role) })
}

// IsAdmin reports whether c carries the admin role (the legacy "is_admin"
// of Nova's request context).
func (c *Credentials) IsAdmin() bool { return c.HasRole("admin") }

// Authenticator validates a token (the X-Auth-Token header) and returns
// the caller's credentials. A token that is not valid yields an error
// satisfying errors.Is(err, ErrUnauthorized); any other error means the
// token could not be checked (identity service unreachable) and front
// ends answer 503. Implementations must be safe for concurrent use.
type Authenticator interface {
	Authenticate(ctx context.Context, token string) (*Credentials, error)
}

// AuthenticatorFunc adapts a function to Authenticator.
type AuthenticatorFunc func(ctx context.Context, token string) (*Credentials, error)

// Authenticate calls f.
func (f AuthenticatorFunc) Authenticate(ctx context.Context, token string) (*Credentials, error) {
	return f(ctx, token)
}

type credsKey struct{}

// NewContext returns a copy of ctx carrying c.
func NewContext(ctx context.Context, c *Credentials) context.Context {
	return context.WithValue(ctx, credsKey{}, c)
}

// FromContext returns the credentials ctx carries, if any.
func FromContext(ctx context.Context) (*Credentials, bool) {
	c, ok := ctx.Value(credsKey{}).(*Credentials)
	return c, ok && c != nil
}
