package api_test

import (
	"testing"
)

func TestSmoke(t *testing.T) {
	c := newClient(t)
	r := c.must(200, "GET", "/", "", nil)
	t.Logf("%s %v", r.raw, r.header)
	c.compute(rp1, "cn1", 8)
	r = c.must(200, "GET", "/allocation_candidates?resources=VCPU:1", "1.39", nil)
	t.Logf("%s", r.raw)
	r = c.must(404, "GET", "/nope", "1.39", nil)
	t.Logf("%s", r.raw)
}
