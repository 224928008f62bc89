package main

import (
	"context"
	"testing"
)

// The README's main command must keep working: run the whole round trip
// on the embedded defaults.
func TestRoundTripOnEmbeddedDefaults(t *testing.T) {
	if err := run(context.Background(), t.TempDir(), "", "mem://", "host1", 50); err != nil {
		t.Fatal(err)
	}
}
