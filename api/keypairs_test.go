package api_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/novakit/novakit/api"
)

func TestGeneratedKeysParse(t *testing.T) {
	for name, gen := range map[string]func(string) (string, string, error){
		"rsa": api.GenerateSSHKey, "ed25519": api.GenerateEd25519Key,
	} {
		t.Run(name, func(t *testing.T) {
			priv, pub, err := gen("c")
			require.NoError(t, err)
			signer, err := ssh.ParsePrivateKey([]byte(priv))
			require.NoError(t, err)
			pk, _, _, _, err := ssh.ParseAuthorizedKey([]byte(pub))
			require.NoError(t, err)
			assert.Equal(t, pk.Marshal(), signer.PublicKey().Marshal(), "the private key matches the public one")
			assert.True(t, strings.HasSuffix(pub, " c"))
			fp, err := api.SSHFingerprint(pub)
			require.NoError(t, err)
			assert.Equal(t, strings.TrimPrefix(ssh.FingerprintLegacyMD5(pk), "MD5:"), fp)
		})
	}
	_, err := api.SSHFingerprint("ssh-rsa bm90IGEga2V5")
	require.Error(t, err)
	_, err = api.X509Fingerprint("-----BEGIN CERTIFICATE-----\nbm9wZQ==\n-----END CERTIFICATE-----\n")
	require.Error(t, err)
}
