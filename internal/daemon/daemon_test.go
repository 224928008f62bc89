package daemon

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type settings struct {
	listen, db string
	n          int
	d          time.Duration
	b          bool
}

func parse(t *testing.T, args []string, env map[string]string) (settings, *Flags, error) {
	t.Helper()
	var s settings
	f := New("svc", "a test service")
	f.String(&s.listen, "listen", "127.0.0.1:1", "address")
	f.String(&s.db, "db", "", "database")
	f.Int(&s.n, "workers", 4, "workers")
	f.Duration(&s.d, "drain-timeout", 30*time.Second, "drain")
	f.Bool(&s.b, "verbose", false, "verbose")
	err := f.Parse(args, func(k string) string { return env[k] }, &bytes.Buffer{}, false)
	return s, f, err
}

func TestPrecedenceFlagEnvFileDefault(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "svc.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte("db: sqlite://file.db\nworkers: 9\ndrain-timeout: 5s\nlisten: 0.0.0.0:9\n"), 0o600))
	s, _, err := parse(t, []string{"-config", cfg, "-listen", "127.0.0.1:7"}, map[string]string{
		"NOVAKIT_WORKERS": "12", "NOVAKIT_LISTEN": "127.0.0.1:8",
	})
	require.NoError(t, err)
	assert.Equal(t, settings{listen: "127.0.0.1:7", db: "sqlite://file.db", n: 12, d: 5 * time.Second}, s)

	// NOVAKIT_CONFIG names the file when -config is not given.
	s, _, err = parse(t, nil, map[string]string{"NOVAKIT_CONFIG": cfg, "NOVAKIT_VERBOSE": "true"})
	require.NoError(t, err)
	assert.Equal(t, settings{listen: "0.0.0.0:9", db: "sqlite://file.db", n: 9, d: 5 * time.Second, b: true}, s)

	s, _, err = parse(t, nil, nil)
	require.NoError(t, err)
	assert.Equal(t, settings{listen: "127.0.0.1:1", n: 4, d: 30 * time.Second}, s)
}

func TestBadSettingsNameTheirSource(t *testing.T) {
	dir := t.TempDir()
	unknown := filepath.Join(dir, "unknown.yaml")
	require.NoError(t, os.WriteFile(unknown, []byte("dbb: x\n"), 0o600))
	badVal := filepath.Join(dir, "bad.yaml")
	require.NoError(t, os.WriteFile(badVal, []byte("workers: many\n"), 0o600))
	notMap := filepath.Join(dir, "list.yaml")
	require.NoError(t, os.WriteFile(notMap, []byte("- a\n- b\n"), 0o600))
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"-nope"}, nil, "-nope"},
		{[]string{"extra"}, nil, `unexpected argument "extra"`},
		{nil, map[string]string{"NOVAKIT_DRAIN_TIMEOUT": "soon"}, "NOVAKIT_DRAIN_TIMEOUT"},
		{nil, map[string]string{"NOVAKIT_LOG_LEVEL": "loud"}, "-log-level"},
		{[]string{"-config", unknown}, nil, `unknown setting "dbb"`},
		{[]string{"-config", badVal}, nil, "workers"},
		{[]string{"-config", notMap}, nil, "not a YAML mapping"},
		{[]string{"-config", filepath.Join(dir, "missing.yaml")}, nil, "config file"},
	} {
		_, _, err := parse(t, tc.args, tc.env)
		if assert.Error(t, err, "%v %v", tc.args, tc.env) {
			assert.Contains(t, err.Error(), tc.want)
			assert.NotContains(t, err.Error(), "\n")
		}
	}
}

func TestHelpListsFlagsWithTheirVariables(t *testing.T) {
	var s string
	f := New("svc", "a test service")
	f.String(&s, "db", "", "database URL")
	var out bytes.Buffer
	err := f.Parse([]string{"-h"}, func(string) string { return "" }, &out, false)
	require.True(t, errors.Is(err, flag.ErrHelp))
	assert.Contains(t, out.String(), "Usage of svc (a test service)")
	assert.Contains(t, out.String(), "NOVAKIT_DB")
	assert.Contains(t, out.String(), "NOVAKIT_LOG_LEVEL")
}

func TestLoggerLevel(t *testing.T) {
	_, f, err := parse(t, []string{"-log-level", "warn"}, nil)
	require.NoError(t, err)
	var out bytes.Buffer
	log := f.Logger(&out)
	log.Info("hidden")
	log.Warn("shown")
	assert.NotContains(t, out.String(), "hidden")
	assert.Contains(t, out.String(), "shown")
}
