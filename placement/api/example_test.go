package api_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/novakit/novakit/placement"
	"github.com/novakit/novakit/placement/api"
)

// Serve Placement over an Index with noauth2-style tokens, register a
// compute node with inventory and ask for allocation candidates.
func Example() {
	idx := placement.New(placement.Options{})
	srv := httptest.NewServer(api.New(idx, api.Options{Authenticator: api.NoAuth()}))
	defer srv.Close()

	call := func(method, path, body string) (int, string) {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("X-Auth-Token", "admin")
		req.Header.Set("OpenStack-API-Version", "placement 1.39")
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			panic(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	const rp = "4e8e5957-649f-477b-9e5b-f1f75b21c03c"
	st, _ := call("POST", "/resource_providers", `{"name": "compute1", "uuid": "`+rp+`"}`)
	fmt.Println("create:", st)
	st, _ = call("PUT", "/resource_providers/"+rp+"/inventories",
		`{"resource_provider_generation": 0, "inventories": {"VCPU": {"total": 8}}}`)
	fmt.Println("inventory:", st)
	st, body := call("GET", "/allocation_candidates?resources=VCPU:2", "")
	fmt.Println("candidates:", st, strings.Contains(body, `"`+rp+`":{"resources":{"VCPU":2}}`))
	st, body = call("PUT", "/resource_providers/"+rp+"/inventories",
		`{"resource_provider_generation": 0, "inventories": {"VCPU": {"total": 4}}}`)
	fmt.Println("stale:", st, strings.Contains(body, "placement.concurrent_update"))
	// Output:
	// create: 200
	// inventory: 200
	// candidates: 200 true
	// stale: 409 true
}

// Run the Placement API as a daemon does: Serve blocks until its context
// ends, then drains.
func ExampleServe() {
	ctx, stop := context.WithCancel(context.Background())
	ready := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- api.Serve(ctx, api.ServeOptions{
			Listen:  "127.0.0.1:0",
			Backend: placement.New(placement.Options{}),
			API:     api.Options{Authenticator: api.NoAuth()},
			Logger:  slog.New(slog.DiscardHandler),
			Ready:   func(a net.Addr) { ready <- a },
		})
	}()
	addr := <-ready
	resp, err := http.Get("http://" + addr.String() + "/healthz")
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	fmt.Println("healthz:", resp.StatusCode)
	stop()
	fmt.Println("stopped:", <-done)
	// Output:
	// healthz: 200
	// stopped: <nil>
}
