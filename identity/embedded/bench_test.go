package embedded_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/novakit/novakit/identity/embedded"
)

// BenchmarkAuthenticate: validating a token in process, what every API
// request pays: after the first request, the payload the token decrypted
// to is remembered, and the expiry, revocation and user are checked.
func BenchmarkAuthenticate(b *testing.B) {
	cfg := embedded.AllInOne("secret", "demopass")
	cfg.BcryptCost = bcrypt.MinCost
	iss, err := embedded.New(cfg)
	require.NoError(b, err)
	tok, _, err := iss.Issue(b.Context(), embedded.PasswordAuth{UserName: "demo", DomainID: "default", Password: "demopass"}, embedded.Scope{})
	require.NoError(b, err)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := iss.Authenticate(b.Context(), tok); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(tok)), "token-bytes")
}
