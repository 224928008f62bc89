package openstack_test

import (
	"testing"

	"github.com/novakit/novakit/compute"
)

// BenchmarkServerCreate measures server create through the HTTP handler
// over loopback with a real SQLite (in-memory) store and the in-process
// conductor/agent doubles of harness_test.go (no queue, no scheduler, no
// placement: the conductor double picks hosts round robin and spawns on
// the fake hypervisor).
//
//   - accepted: POST /servers until the 202 (validation, quota, the
//     instance, request spec, BDM and action records, the cast).
//   - active: POST /servers, then GET /servers/{id} until ACTIVE, as
//     `openstack server create --wait` does but without its sleep between
//     polls; it adds the double's build (fake spawn, compare-and-swap to
//     active) and the polls.
func BenchmarkServerCreate(b *testing.B) {
	body := map[string]any{"server": map[string]any{"name": "bench", "flavorRef": "1", "imageRef": imageID, "networks": "none"}}
	setup := func(b *testing.B) *env {
		e := newEnv(b, 4)
		for _, r := range []string{compute.QuotaInstances, compute.QuotaCores, compute.QuotaRAM} {
			if err := e.cloud.st.Quotas().Set(bg, "p1", "", r, -1); err != nil {
				b.Fatal(err)
			}
		}
		return e
	}
	b.Run("accepted", func(b *testing.B) {
		e := setup(b)
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			r := e.do("POST", "/v2.1/servers", "alice:p1", "2.96", body)
			if r.Code != 202 {
				b.Fatal(r.Raw)
			}
		}
		b.StopTimer()
		e.drain()
	})
	b.Run("active", func(b *testing.B) {
		e := setup(b)
		b.ReportAllocs()
		polls := 0
		b.ResetTimer()
		for b.Loop() {
			r := e.do("POST", "/v2.1/servers", "alice:p1", "2.96", body)
			if r.Code != 202 {
				b.Fatal(r.Raw)
			}
			id := r.Body["server"].(map[string]any)["id"].(string)
			for {
				polls++
				s := e.do("GET", "/v2.1/servers/"+id, "alice:p1", "2.96", nil)
				st := s.Body["server"].(map[string]any)["status"]
				if st == "ACTIVE" {
					break
				}
				if st == "ERROR" {
					b.Fatal(s.Raw)
				}
			}
		}
		b.StopTimer()
		b.ReportMetric(float64(polls)/float64(b.N), "polls/op")
	})
}
