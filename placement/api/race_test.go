package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"
)

func post(t testing.TB, cl *http.Client, method, url, version string, body any) (int, []byte) {
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, url, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Auth-Token", "admin")
	req.Header.Set("OpenStack-API-Version", "placement "+version)
	resp, err := cl.Do(req)
	if err != nil {
		t.Error(err)
		return 0, nil
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// TestClaimRace races 64 claimers over HTTP for the last 3 units of VCPU:
// exactly 3 win, the others get 409, and usage never exceeds capacity.
func TestClaimRace(t *testing.T) {
	c := newClient(t)
	c.compute(rp1, "cn", 10)
	c.must(204, "PUT", "/allocations/"+con1, "1.39", alloc(rp1, nil, "VCPU", 7))
	srv := httptest.NewServer(c.h)
	defer srv.Close()
	cl := srv.Client()
	var wins, conflicts atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < 64; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			st, body := post(t, cl, "PUT", srv.URL+"/allocations/"+uuid.NewString(), "1.39", alloc(rp1, nil, "VCPU", 1))
			switch st {
			case 204:
				wins.Add(1)
			case 409:
				conflicts.Add(1)
			default:
				t.Errorf("status %d: %s", st, body)
			}
		}()
	}
	close(start)
	wg.Wait()
	if wins.Load() != 3 || conflicts.Load() != 61 {
		t.Fatalf("wins %d conflicts %d, want 3 and 61", wins.Load(), conflicts.Load())
	}
	r := c.must(200, "GET", "/resource_providers/"+rp1+"/usages", "1.39", nil)
	if u := r.body["usages"].(map[string]any)["VCPU"]; u != float64(10) {
		t.Fatalf("usage %v, want 10", u)
	}
}

// TestSchedulerRace: 64 schedulers over 8 hosts each ask for candidates and
// claim the first, retrying on conflict; the claims succeed until capacity
// runs out and no host is ever overcommitted.
func TestSchedulerRace(t *testing.T) {
	c := newClient(t)
	var hosts []string
	for i := 0; i < 8; i++ {
		u := uuid.NewString()
		hosts = append(hosts, u)
		c.compute(u, fmt.Sprintf("cn%d", i), 4) // 32 VCPU in all
	}
	srv := httptest.NewServer(c.h)
	defer srv.Close()
	cl := srv.Client()
	var claimed atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 64; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			consumer := uuid.NewString()
			for attempt := 0; attempt < 50; attempt++ {
				req, _ := http.NewRequest("GET", srv.URL+"/allocation_candidates?resources=VCPU:1&limit=3", nil)
				req.Header.Set("X-Auth-Token", "admin")
				req.Header.Set("OpenStack-API-Version", "placement 1.39")
				resp, err := cl.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				var ac struct {
					AllocationRequests []struct {
						Allocations map[string]any `json:"allocations"`
					} `json:"allocation_requests"`
				}
				err = json.NewDecoder(resp.Body).Decode(&ac)
				resp.Body.Close()
				if err != nil {
					t.Error(err)
					return
				}
				if len(ac.AllocationRequests) == 0 {
					return // full
				}
				body := map[string]any{"allocations": ac.AllocationRequests[0].Allocations, "project_id": "p", "user_id": "u",
					"consumer_generation": nil, "consumer_type": "INSTANCE"}
				st, out := post(t, cl, "PUT", srv.URL+"/allocations/"+consumer, "1.39", body)
				if st == 204 {
					claimed.Add(1)
					return
				}
				if st != 409 {
					t.Errorf("claim: %d %s", st, out)
					return
				}
			}
		}()
	}
	wg.Wait()
	if claimed.Load() != 32 {
		t.Errorf("claimed %d, want 32 (all capacity)", claimed.Load())
	}
	for _, h := range hosts {
		r := c.must(200, "GET", "/resource_providers/"+h+"/usages", "1.39", nil)
		if u := r.body["usages"].(map[string]any)["VCPU"].(float64); u > 4 {
			t.Fatalf("host %s overcommitted: %v", h, u)
		}
	}
}

// TestGenerationRace: concurrent inventory writes with the same provider
// generation: exactly one wins, the rest are 409 placement.concurrent_update.
func TestGenerationRace(t *testing.T) {
	c := newClient(t)
	c.must(200, "POST", "/resource_providers", "1.20", map[string]any{"name": "g", "uuid": rp1})
	var wins atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 32; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := c.do("PUT", "/resource_providers/"+rp1+"/inventories", "1.39", map[string]any{
				"resource_provider_generation": 0, "inventories": map[string]any{"VCPU": map[string]any{"total": 1 + i}}})
			switch {
			case r.status == 200:
				wins.Add(1)
			case r.status == 409 && r.code() == "placement.concurrent_update":
			default:
				t.Errorf("%d %s", r.status, r.raw)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d writers won with one generation", wins.Load())
	}
}
