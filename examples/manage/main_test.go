package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
)

func TestDBSyncCreatesThenReportsUpToDate(t *testing.T) {
	ctx := context.Background()
	url := "sqlite://" + filepath.Join(t.TempDir(), "nova.db")
	var out bytes.Buffer
	if err := run(ctx, []string{"-db", url, "db", "version"}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "pending") || strings.Contains(out.String(), "applied") {
		t.Fatalf("fresh database should have only pending migrations:\n%s", out.String())
	}
	out.Reset()
	if err := run(ctx, []string{"-db", url, "db", "sync"}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "applied") {
		t.Fatalf("sync applied nothing:\n%s", out.String())
	}
	out.Reset()
	if err := run(ctx, []string{"-db", url, "db", "sync"}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "up to date") {
		t.Fatalf("second sync:\n%s", out.String())
	}
}

func TestBadInvocationsFailWithAReason(t *testing.T) {
	ctx := context.Background()
	for _, args := range [][]string{
		{"db", "sync"}, // no -db and (in tests) no NOVAKIT_DB
		{"-db", "sqlite://x.db", "db"},
		{"-db", "sqlite://x.db", "db", "drop"},
		{"-nope"},
		{"-db", "redis://localhost", "db", "sync"},
		{"-db", "postgres://u:secret@127.0.0.1:1/nova", "-timeout", "1s", "db", "sync"},
	} {
		t.Setenv("NOVAKIT_DB", "")
		err := run(ctx, args, &bytes.Buffer{})
		if err == nil {
			t.Errorf("%v: no error", args)
			continue
		}
		if strings.Contains(err.Error(), "secret") || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: error is not one clean line: %q", args, err)
		}
	}
}
