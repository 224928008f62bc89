package api

import (
	"encoding/json"
	"testing"

	"github.com/novakit/novakit/image"
)

// FuzzBodies: arbitrary create and patch bodies never panic; whatever
// they produce passes image validation, and a patch that fails leaves no
// partial change (the store applies it to a copy).
func FuzzBodies(f *testing.F) {
	f.Add([]byte(`{"name":"x","disk_format":"qcow2","container_format":"bare","tags":["a"],"p":"v"}`),
		[]byte(`[{"op":"replace","path":"/name","value":"y"},{"op":"add","path":"/k","value":"v"}]`), false)
	f.Add([]byte(`{"visibility":"public","min_ram":1e3}`), []byte(`[{"replace":"/tags","value":["a","a"]}]`), true)
	f.Add([]byte(`{"id":"11111111-2222-3333-4444-555555555555"}`), []byte(`[{"op":"remove","path":"/a~1b"}]`), false)
	f.Fuzz(func(t *testing.T, create, patch []byte, admin bool) {
		img, err := parseCreate(create, admin)
		if err != nil {
			if _, ok := err.(*httpError); !ok {
				t.Fatalf("create error %T is not an HTTP error: %v", err, err)
			}
			return
		}
		if err := img.Validate(); err != nil {
			t.Fatalf("parseCreate accepted an invalid image: %v", err)
		}
		if !admin && img.Visibility == image.Public {
			t.Fatal("a non-admin made an image public")
		}
		ops, err := parsePatch(patch)
		if err != nil {
			return
		}
		before, _ := json.Marshal(img)
		next := img.Clone()
		if err := applyPatch(&next, ops, admin); err != nil {
			if after, _ := json.Marshal(img); string(after) != string(before) {
				t.Fatal("a failed patch changed the original")
			}
			return
		}
		if err := next.Validate(); err != nil {
			t.Fatalf("applyPatch produced an invalid image: %v", err)
		}
		if !admin && next.Visibility == image.Public && img.Visibility != image.Public {
			t.Fatal("a non-admin made an image public by patch")
		}
	})
}
