package embedded

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/novakit/novakit/identity"
)

// TestOpenedTokensStillExpireAndRevoke: a token validated once (and so
// remembered) is refused once it expires or is revoked, as one never
// validated before.
func TestOpenedTokensStillExpireAndRevoke(t *testing.T) {
	cfg := AllInOne("secret", "demopass")
	cfg.BcryptCost = bcrypt.MinCost
	cfg.TokenTTL = time.Hour
	iss, err := New(cfg)
	require.NoError(t, err)
	now := time.Now()
	iss.now = func() time.Time { return now }
	ctx := context.Background()
	auth := PasswordAuth{UserName: "demo", DomainID: "default", Password: "demopass"}
	tok, _, err := iss.Issue(ctx, auth, Scope{})
	require.NoError(t, err)
	c, err := iss.Authenticate(ctx, tok)
	require.NoError(t, err)
	require.NotNil(t, iss.s.opened.get(tok), "a validated token is remembered")
	c2, err := iss.Authenticate(ctx, tok)
	require.NoError(t, err)
	assert.Equal(t, c, c2, "the remembered token gives the same credentials")
	assert.NotSame(t, c, c2, "each caller gets its own credentials")

	now = now.Add(time.Hour)
	_, err = iss.Authenticate(ctx, tok)
	require.ErrorIs(t, err, identity.ErrUnauthorized, "a remembered token expires")
	assert.Nil(t, iss.s.opened.get(tok), "and is forgotten")

	now = time.Now()
	tok, _, err = iss.Issue(ctx, auth, Scope{})
	require.NoError(t, err)
	_, err = iss.Authenticate(ctx, tok)
	require.NoError(t, err)
	require.NoError(t, iss.Revoke(ctx, tok))
	_, err = iss.Authenticate(ctx, tok)
	require.ErrorIs(t, err, identity.ErrUnauthorized, "a remembered token can be revoked")
}

func TestOpenCacheIsBounded(t *testing.T) {
	var c openCache
	for i := range openCacheMax + 10 {
		c.put(fmt.Sprint(i), &payload{})
	}
	assert.Len(t, c.m, openCacheMax)
}
