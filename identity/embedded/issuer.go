package embedded

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
	"golang.org/x/crypto/bcrypt"

	"github.com/novakit/novakit/identity"
)

// Issuer is an embedded Keystone-v3-compatible identity service: an
// http.Handler serving the Identity v3 subset keystoneauth and the
// openstack CLI use (see the package doc), and an identity.Authenticator
// for services in the same process. Tokens are self-contained and
// encrypted with the configured keys; revocations (DELETE
// /v3/auth/tokens, Revoke) are kept in this Issuer's memory only, so they
// are lost at restart and not seen by a Validator in another process.
// An Issuer is safe for concurrent use.
type Issuer struct {
	dir *directory
	s   *sealer
	now func() time.Time

	mu      sync.Mutex
	revoked map[string]time.Time // audit id → token expiry
	mux     *http.ServeMux
}

var _ identity.Authenticator = (*Issuer)(nil)

// New validates cfg (errors name the offending field), hashes plain-text
// passwords with bcrypt and returns the Issuer. With no keys in cfg a
// random key is made: tokens then validate only in this process.
func New(cfg Config) (*Issuer, error) {
	dir, err := buildDirectory(cfg)
	if err != nil {
		return nil, err
	}
	keys := cfg.Keys
	if len(keys) == 0 {
		keys = []string{NewKey()}
	}
	s, err := newSealer(keys)
	if err != nil {
		return nil, err
	}
	i := &Issuer{dir: dir, s: s, now: time.Now, revoked: map[string]time.Time{}}
	i.routes()
	return i, nil
}

// PasswordAuth names a user, by ID or by Name and domain (DomainID or
// DomainName), and gives the password.
type PasswordAuth struct {
	UserID, UserName, DomainID, DomainName string
	Password                               string
}

// Scope says what a token is for: a project (ProjectID, or ProjectName
// in the domain given by ProjectDomainID/ProjectDomainName), a domain
// (DomainID or DomainName), the system (System), or nothing (the zero
// Scope: the user's default project if it has one, else unscoped;
// Unscoped forces an unscoped token).
type Scope struct {
	ProjectID, ProjectName, ProjectDomainID, ProjectDomainName string
	DomainID, DomainName                                       string
	System                                                     bool
	Unscoped                                                   bool
}

// Issue authenticates a user by password and returns a token for scope
// and the credentials it carries. Bad names or passwords and scopes the
// user has no role on are errors wrapping identity.ErrUnauthorized.
// It blocks for one bcrypt comparison.
func (i *Issuer) Issue(_ context.Context, auth PasswordAuth, scope Scope) (string, *identity.Credentials, error) {
	p, err := i.issue(auth, scope)
	if err != nil {
		return "", nil, err
	}
	tok, err := i.s.seal(p)
	if err != nil {
		return "", nil, err
	}
	return tok, p.credentials(tok), nil
}

func (i *Issuer) issue(auth PasswordAuth, scope Scope) (*payload, error) {
	u, err := i.passwordUser(auth)
	if err != nil {
		return nil, err
	}
	now := i.now().UTC()
	p := &payload{Methods: []string{"password"}, IssuedAt: now.UnixMicro(),
		ExpiresAt: now.Add(i.dir.ttl).UnixMicro(), AuditIDs: []string{newAuditID()}}
	if err := i.scope(p, u, scope); err != nil {
		return nil, err
	}
	return p, nil
}

// Authenticate validates a token issued by this Issuer (or with one of
// its keys) and not revoked here, whose user is still enabled.
// Errors wrap identity.ErrUnauthorized. It does not block.
func (i *Issuer) Authenticate(_ context.Context, token string) (*identity.Credentials, error) {
	p, err := i.validate(token)
	if err != nil {
		return nil, err
	}
	return p.credentials(token), nil
}

func (i *Issuer) validate(token string) (*payload, error) {
	p, err := i.s.open(token, i.now())
	if err != nil {
		return nil, err
	}
	i.mu.Lock()
	_, revoked := i.revoked[p.AuditIDs[0]]
	i.mu.Unlock()
	if revoked {
		return nil, fmt.Errorf("token revoked: %w", identity.ErrUnauthorized)
	}
	if u := i.dir.users[p.UserID]; u == nil || u.Disabled {
		return nil, fmt.Errorf("user %s is unknown or disabled: %w", p.UserID, identity.ErrUnauthorized)
	}
	return p, nil
}

// Revoke revokes token (idempotent). An invalid token is an error
// wrapping identity.ErrUnauthorized. Revocations live in memory until the
// token would have expired.
func (i *Issuer) Revoke(_ context.Context, token string) error {
	p, err := i.s.open(token, i.now())
	if err != nil {
		return err
	}
	now := i.now()
	i.mu.Lock()
	defer i.mu.Unlock()
	for id, exp := range i.revoked {
		if !now.Before(exp) {
			delete(i.revoked, id)
		}
	}
	i.revoked[p.AuditIDs[0]] = p.expires()
	return nil
}

func newAuditID() string {
	b := uuid.New()
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func (i *Issuer) passwordUser(a PasswordAuth) (*User, error) {
	var u *User
	switch {
	case a.UserID != "":
		u = i.dir.users[a.UserID]
	case a.UserName != "":
		var dom *Domain
		switch {
		case a.DomainID != "":
			dom = i.dir.domains[a.DomainID]
		case a.DomainName != "":
			dom, _ = i.dir.domain(a.DomainName)
			if dom != nil && dom.Name != a.DomainName {
				dom = nil
			}
		default:
			return nil, fmt.Errorf("%w: user.domain is required with user.name", errBadRequest)
		}
		if dom == nil {
			return nil, fmt.Errorf("unknown user domain: %w", identity.ErrUnauthorized)
		}
		for _, x := range i.dir.users {
			if x.Name == a.UserName && x.DomainID == dom.ID {
				u = x
			}
		}
	default:
		return nil, fmt.Errorf("%w: user.id or user.name is required", errBadRequest)
	}
	if u == nil || u.Disabled || i.dir.domains[u.DomainID].Disabled || u.PasswordHash == "" {
		return nil, fmt.Errorf("invalid username or password: %w", identity.ErrUnauthorized)
	}
	if bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte(a.Password)) != nil {
		return nil, fmt.Errorf("invalid username or password: %w", identity.ErrUnauthorized)
	}
	return u, nil
}

var errBadRequest = errors.New("bad request")

// scope fills p's user and scope fields for u.
func (i *Issuer) scope(p *payload, u *User, s Scope) error {
	d := i.dir
	p.UserID, p.UserName, p.UserDomainID = u.ID, u.Name, u.DomainID
	p.UserDomainName = d.domains[u.DomainID].Name
	if s == (Scope{}) && u.DefaultProjectID != "" {
		if _, ok := d.projRoles[[2]string{u.ID, u.DefaultProjectID}]; ok {
			s.ProjectID = u.DefaultProjectID
		}
	}
	var roleIDs []string
	switch {
	case s.ProjectID != "" || s.ProjectName != "":
		var proj *Project
		if s.ProjectID != "" {
			proj = d.projects[s.ProjectID]
		} else {
			var dom *Domain
			switch {
			case s.ProjectDomainID != "":
				dom = d.domains[s.ProjectDomainID]
			case s.ProjectDomainName != "":
				for _, x := range d.domains {
					if x.Name == s.ProjectDomainName {
						dom = x
					}
				}
			default:
				return fmt.Errorf("%w: scope.project.domain is required with scope.project.name", errBadRequest)
			}
			if dom != nil {
				for _, x := range d.projects {
					if x.Name == s.ProjectName && x.DomainID == dom.ID {
						proj = x
					}
				}
			}
		}
		if proj == nil || proj.Disabled || d.domains[proj.DomainID].Disabled {
			return fmt.Errorf("project not found or disabled: %w", identity.ErrUnauthorized)
		}
		roleIDs = d.projRoles[[2]string{u.ID, proj.ID}]
		if len(roleIDs) == 0 {
			return fmt.Errorf("user %s has no access to project %s: %w", u.ID, proj.ID, identity.ErrUnauthorized)
		}
		p.ProjectID, p.ProjectName, p.ProjDomainID = proj.ID, proj.Name, proj.DomainID
		p.ProjDomainName = d.domains[proj.DomainID].Name
	case s.DomainID != "" || s.DomainName != "":
		var dom *Domain
		if s.DomainID != "" {
			dom = d.domains[s.DomainID]
		} else {
			for _, x := range d.domains {
				if x.Name == s.DomainName {
					dom = x
				}
			}
		}
		if dom == nil || dom.Disabled {
			return fmt.Errorf("domain not found or disabled: %w", identity.ErrUnauthorized)
		}
		roleIDs = d.domainRoles[[2]string{u.ID, dom.ID}]
		if len(roleIDs) == 0 {
			return fmt.Errorf("user %s has no access to domain %s: %w", u.ID, dom.ID, identity.ErrUnauthorized)
		}
		p.DomainID, p.DomainName = dom.ID, dom.Name
	case s.System:
		roleIDs = d.sysRoles[u.ID]
		if len(roleIDs) == 0 {
			return fmt.Errorf("user %s has no access to the system: %w", u.ID, identity.ErrUnauthorized)
		}
		p.System = "all"
	default:
		return nil // unscoped
	}
	for _, id := range d.expand(roleIDs) {
		p.Roles = append(p.Roles, roleRef{ID: id, Name: d.roles[id].Name})
	}
	return nil
}

// rescope makes a token from an existing one (the token method): same
// user, methods, expiry and audit chain, new scope.
func (i *Issuer) rescope(old *payload, s Scope) (*payload, error) {
	u := i.dir.users[old.UserID]
	if u == nil || u.Disabled {
		return nil, fmt.Errorf("user disabled: %w", identity.ErrUnauthorized)
	}
	if s == (Scope{}) {
		// Keystone: a token-method request without scope keeps the
		// token's scope.
		s = Scope{ProjectID: old.ProjectID, DomainID: old.DomainID, System: old.System != "", Unscoped: true}
	}
	p := &payload{Methods: slices.Clone(old.Methods), IssuedAt: i.now().UTC().UnixMicro(), ExpiresAt: old.ExpiresAt,
		AuditIDs: []string{newAuditID(), old.AuditIDs[len(old.AuditIDs)-1]}}
	if !slices.Contains(p.Methods, "token") {
		p.Methods = append(p.Methods, "token")
	}
	if err := i.scope(p, u, s); err != nil {
		return nil, err
	}
	return p, nil
}
