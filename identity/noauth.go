package identity

import (
	"context"
	"fmt"
	"strings"
)

// NoAuth returns an Authenticator for tests and development, in the
// manner of Nova's noauth2: the token "user[:project]" is accepted as is
// (the project defaults to the user). The user "admin" gets the roles
// admin, member and reader; anyone else member and reader. An empty user
// is ErrUnauthorized. It is safe for concurrent use.
func NoAuth() Authenticator {
	return AuthenticatorFunc(func(_ context.Context, tok string) (*Credentials, error) {
		user, project, _ := strings.Cut(tok, ":")
		if user == "" {
			return nil, fmt.Errorf("noauth: empty user in token: %w", ErrUnauthorized)
		}
		if project == "" {
			project = user
		}
		c := &Credentials{UserID: user, UserName: user, ProjectID: project, ProjectName: project,
			UserDomainID: "default", ProjectDomainID: "default", Roles: []string{"member", "reader"}, Token: tok}
		if user == "admin" {
			c.Roles = []string{"admin", "member", "reader"}
		}
		return c, nil
	})
}
