package embedded_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/novakit/novakit/identity/embedded"
)

// startIssuer serves an all-in-one issuer (admin/secret, demo/demopass)
// on a loopback port whose own URL is the catalog's identity endpoint,
// with a compute endpoint at computeURL.
func startIssuer(t *testing.T, mutate func(*embedded.Config)) (*embedded.Issuer, *httptest.Server, embedded.Config) {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	url := "http://" + srv.Listener.Addr().String()
	cfg := embedded.AllInOne("secret", "demopass")
	cfg.BcryptCost = bcrypt.MinCost
	cfg.Keys = []string{embedded.NewKey()}
	cfg.AddService("identity", "keystone", "", url+"/v3")
	cfg.AddService("compute", "nova", "", "http://127.0.0.1:8774/v2.1")
	if mutate != nil {
		mutate(&cfg)
	}
	iss, err := embedded.New(cfg)
	require.NoError(t, err)
	srv.Config.Handler = http.Handler(iss)
	srv.Start()
	t.Cleanup(srv.Close)
	return iss, srv, cfg
}
