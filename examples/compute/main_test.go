package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"strings"
	"testing"
)

func TestHelpAndOneLineFailures(t *testing.T) {
	ctx := context.Background()
	none := func(string) string { return "" }
	var out bytes.Buffer
	if err := run(ctx, []string{"-h"}, none, &out); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v", err)
	}
	for _, want := range []string{"-listen", "-queue", "NOVAKIT_LOG_LEVEL", "-config"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("-h does not mention %s:\n%s", want, out.String())
		}
	}
	for _, args := range [][]string{{"-bogus"}, {"stray"}, {"-log-level", "loud"}, {"-listen", "127.0.0.1:0", "-host", "h", "-driver", "vmware://x", "-queue", "mem://"}} {
		err := run(ctx, args, none, &bytes.Buffer{})
		if err == nil || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: want a one-line error, got %v", args, err)
		}
	}
	err := run(ctx, []string{"-listen", "127.0.0.1:0", "-host", "h", "-driver", "vmware://x", "-queue", "mem://"}, none, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "fake://") {
		t.Errorf("start failure does not say why: %v", err)
	}
}
