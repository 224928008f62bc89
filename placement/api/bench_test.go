package api_test

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/novakit/novakit/placement"
	"github.com/novakit/novakit/placement/api"
)

// BenchmarkCandidatesHTTP measures GET /allocation_candidates at 1.39 over
// 1,000 flat providers (VCPU, MEMORY_MB, DISK_GB each), through the whole
// handler (auth, negotiation, parsing, search, rendering) but without a
// network hop; p50 and p99 are reported in ms/op.
func BenchmarkCandidatesHTTP(b *testing.B) {
	for _, bc := range []struct {
		name      string
		providers int
		query     string
		loopback  bool
	}{
		{"flat1000", 1000, "resources=VCPU:1,MEMORY_MB:512,DISK_GB:10", false},
		{"flat1000-limit1000", 1000, "resources=VCPU:1,MEMORY_MB:512,DISK_GB:10&limit=1000", false},
		{"flat1000-limit50", 1000, "resources=VCPU:1,MEMORY_MB:512,DISK_GB:10&limit=50", false},
		{"flat1000-limit1000-loopback", 1000, "resources=VCPU:1,MEMORY_MB:512,DISK_GB:10&limit=1000", true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c := newClient(b)
			for i := 0; i < bc.providers; i++ {
				u := uuid.NewString()
				c.must(200, "POST", "/resource_providers", "1.20", map[string]any{"uuid": u, "name": fmt.Sprintf("cn%d", i)})
				c.must(200, "PUT", "/resource_providers/"+u+"/inventories", "1.39", map[string]any{
					"resource_provider_generation": 0,
					"inventories": map[string]any{
						"VCPU":      map[string]any{"total": 32, "allocation_ratio": 16.0},
						"MEMORY_MB": map[string]any{"total": 131072, "allocation_ratio": 1.5},
						"DISK_GB":   map[string]any{"total": 2000},
					}})
			}
			req := httptest.NewRequest("GET", "/allocation_candidates?"+bc.query, nil)
			req.Header.Set("X-Auth-Token", "admin")
			req.Header.Set("OpenStack-API-Version", "placement 1.39")
			var srv *httptest.Server
			if bc.loopback {
				srv = httptest.NewServer(c.h)
				defer srv.Close()
			}
			var lat []time.Duration
			b.ResetTimer()
			for b.Loop() {
				t0 := time.Now()
				if srv != nil {
					r, _ := http.NewRequest("GET", srv.URL+"/allocation_candidates?"+bc.query, nil)
					r.Header = req.Header
					resp, err := srv.Client().Do(r)
					if err != nil {
						b.Fatal(err)
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					lat = append(lat, time.Since(t0))
					if resp.StatusCode != http.StatusOK {
						b.Fatalf("%d", resp.StatusCode)
					}
					continue
				}
				w := httptest.NewRecorder()
				c.h.ServeHTTP(w, req)
				lat = append(lat, time.Since(t0))
				if w.Code != http.StatusOK {
					b.Fatalf("%d %s", w.Code, w.Body)
				}
			}
			b.StopTimer()
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}

// BenchmarkHandlerOverhead measures the per-request cost of the handler
// around a trivial route (GET /resource_providers/{uuid}: auth, version
// negotiation, routing, policy, metrics, rendering), without and with the
// request log (to a discarding slog handler at Info).
func BenchmarkHandlerOverhead(b *testing.B) {
	for _, logged := range []bool{false, true} {
		name := "nolog"
		opts := api.Options{Authenticator: api.NoAuth()}
		if logged {
			name = "slog"
			opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
		}
		b.Run(name, func(b *testing.B) {
			idx := placement.New(placement.Options{})
			h := api.New(idx, opts)
			u := uuid.NewString()
			if _, err := idx.CreateProvider(b.Context(), placement.ProviderSpec{UUID: u, Name: "cn"}); err != nil {
				b.Fatal(err)
			}
			req := httptest.NewRequest("GET", "/resource_providers/"+u, nil)
			req.Header.Set("X-Auth-Token", "admin")
			req.Header.Set("OpenStack-API-Version", "placement 1.39")
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				w.code = 0
				h.ServeHTTP(w, req)
				if w.code != http.StatusOK {
					b.Fatal(w.code)
				}
			}
		})
	}
}

type discardWriter struct {
	h    http.Header
	code int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(code int)        { w.code = code }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
