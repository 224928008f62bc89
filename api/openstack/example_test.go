package openstack_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/novakit/novakit/api"
	"github.com/novakit/novakit/api/openstack"
	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/identity"
	"github.com/novakit/novakit/store"
)

// Example serves the compute API over a store, with the development
// authenticator, and lists the flavors. The conductor, the agents' client
// and the image service are wired into api.Options the same way
// (examples/allinone does it with the real ones).
func Example() {
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite://:memory:", nil)
	if err != nil {
		panic(err)
	}
	defer st.Close()
	_, _ = st.Flavors().Create(ctx, &compute.Flavor{FlavorID: "1", Name: "m1.tiny", VCPUs: 1, MemoryMB: 512, RootGB: 1, IsPublic: true})

	a, err := api.New(api.Options{Store: st})
	if err != nil {
		panic(err)
	}
	h, err := openstack.New(openstack.Options{API: a, Authenticator: identity.NoAuth()})
	if err != nil {
		panic(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()

	req, _ := http.NewRequest("GET", srv.URL+"/v2.1/flavors", nil)
	req.Header.Set("X-Auth-Token", "alice:p1")
	req.Header.Set("OpenStack-API-Version", "compute 2.55")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	fmt.Println(res.StatusCode, res.Header.Get("OpenStack-API-Version"))
	fmt.Println(len(body) > 0)
	// Output:
	// 200 compute 2.55
	// true
}
