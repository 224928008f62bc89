package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/store"
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

func TestServiceAndHostCommands(t *testing.T) {
	ctx := context.Background()
	url := "sqlite://" + filepath.Join(t.TempDir(), "nova.db")
	// cmp2 registered two hours ago and never reported since: down.
	old, err := store.Open(ctx, url, &store.Options{Now: func() time.Time { return time.Now().Add(-2 * time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.Services().Create(ctx, &compute.Service{Host: "cmp2", Binary: "nova-compute", Topic: "compute"}); err != nil {
		t.Fatal(err)
	}
	old.Close()
	st, err := store.Open(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []compute.Service{
		{Host: "cmp1", Binary: "nova-compute", Topic: "compute"},
		{Host: "ctl1", Binary: "nova-conductor", Topic: "conductor"},
		{Host: "ctl1", Binary: "nova-scheduler", Topic: "scheduler"},
	} {
		c, err := st.Services().Create(ctx, &s)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Services().Heartbeat(ctx, c.UUID); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()

	var out bytes.Buffer
	if err := run(ctx, []string{"-db", url, "service", "list"}, &out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 5 {
		t.Fatalf("service list: want a header and 4 services:\n%s", out.String())
	}
	row := func(host, binary string) string {
		for _, l := range lines {
			f := strings.Fields(l)
			if len(f) > 4 && f[1] == binary && f[2] == host {
				return strings.Join(f[3:6], " ")
			}
		}
		return ""
	}
	if got := row("cmp1", "nova-compute"); got != "enabled up false" {
		t.Errorf("cmp1: %q", got)
	}
	if got := row("cmp2", "nova-compute"); got != "enabled down false" {
		t.Errorf("cmp2: %q", got)
	}
	for _, b := range []string{"nova-conductor", "nova-scheduler"} {
		if got := row("ctl1", b); got != "enabled up false" {
			t.Errorf("ctl1 %s: %q\n%s", b, got, out.String())
		}
	}

	out.Reset()
	if err := run(ctx, []string{"-db", url, "service", "force-down", "cmp1"}, &out); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := run(ctx, []string{"-db", url, "service", "list"}, &out); err != nil {
		t.Fatal(err)
	}
	lines = strings.Split(strings.TrimSpace(out.String()), "\n")
	if got := row("cmp1", "nova-compute"); got != "enabled down true" {
		t.Errorf("cmp1 after force-down: %q\n%s", got, out.String())
	}
	if err := run(ctx, []string{"-db", url, "service", "force-up", "cmp1", "nova-compute"}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if err := run(ctx, []string{"-db", url, "service", "force-down", "nohost"}, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "nohost") {
		t.Errorf("force-down of an unknown host: %v", err)
	}

	out.Reset()
	if err := run(ctx, []string{"-db", url, "host", "list"}, &out); err != nil {
		t.Fatal(err)
	}
	want := "Host  Zone\ncmp1  nova\ncmp2  nova\nctl1  internal\n"
	if out.String() != want {
		t.Errorf("host list:\n%s\nwant:\n%s", out.String(), want)
	}
}
