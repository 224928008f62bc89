package api_test

import (
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novakit/novakit/identity"
	"github.com/novakit/novakit/placement"
	"github.com/novakit/novakit/placement/api"
)

func TestParseDaemonConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "placement.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte("listen: 127.0.0.1:1111\ndb: sqlite:///file.db\nlog-level: debug\ndrain-timeout: 5s\npolicy-defaults: secure-rbac\n"), 0o600))
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }

	c, err := api.ParseDaemonConfig("placement", nil, getenv, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, api.DaemonConfig{Listen: "127.0.0.1:8778", Auth: "noauth", PolicyDefaults: "legacy", LogLevel: "info", DrainTimeout: api.DefaultDrainTimeout,
		KeystoneUser: "placement", KeystoneProject: "service"}, c)

	env["NOVAKIT_CONFIG"] = cfg
	c, err = api.ParseDaemonConfig("placement", nil, getenv, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:1111", c.Listen)
	assert.Equal(t, "sqlite:///file.db", c.DB)
	assert.Equal(t, 5*time.Second, c.DrainTimeout)
	assert.Equal(t, "secure-rbac", c.PolicyDefaults)

	env["NOVAKIT_LISTEN"] = "127.0.0.1:2222"
	env["NOVAKIT_DRAIN_TIMEOUT"] = "7s"
	c, err = api.ParseDaemonConfig("placement", nil, getenv, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:2222", c.Listen, "env beats file")
	assert.Equal(t, 7*time.Second, c.DrainTimeout)
	assert.Equal(t, "debug", c.LogLevel, "file still applies where env is silent")

	c, err = api.ParseDaemonConfig("placement", []string{"-listen", "127.0.0.1:3333", "-drain-timeout", "1s"}, getenv, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:3333", c.Listen, "flag beats env")
	assert.Equal(t, time.Second, c.DrainTimeout)

	for _, tc := range []struct {
		args []string
		env  map[string]string
		file string
		want string
	}{
		{args: []string{"-nope"}, want: "flag provided but not defined: -nope"},
		{args: []string{"extra"}, want: `unexpected argument "extra"`},
		{env: map[string]string{"NOVAKIT_DRAIN_TIMEOUT": "soon"}, want: `NOVAKIT_DRAIN_TIMEOUT: "soon" is not a duration`},
		{file: "listen: [1, 2\n", want: "not a YAML mapping"},
		{file: "lisen: x\n", want: `unknown setting "lisen"`},
		{file: "drain-timeout: forever\n", want: "config file setting drain-timeout"},
		{args: []string{"-policy-defaults", "strict"}, want: "-policy-defaults"},
		{args: []string{"-auth", "ftp://x"}, want: `-auth "ftp://x"`},
		{args: []string{"-config", filepath.Join(dir, "missing.yaml")}, want: "config file"},
	} {
		env := tc.env
		if tc.file != "" {
			f := filepath.Join(dir, "bad.yaml")
			require.NoError(t, os.WriteFile(f, []byte(tc.file), 0o600))
			env = map[string]string{"NOVAKIT_CONFIG": f}
		}
		_, err := api.ParseDaemonConfig("placement", tc.args, func(k string) string { return env[k] }, io.Discard)
		require.Error(t, err, tc.want)
		assert.Contains(t, err.Error(), tc.want)
		assert.NotContains(t, err.Error(), "\n")
	}
	_, err = api.ParseDaemonConfig("placement", []string{"-h"}, getenv, io.Discard)
	assert.True(t, errors.Is(err, flag.ErrHelp))
}

func TestDaemonServeOptions(t *testing.T) {
	idx := placement.New(placement.Options{})
	c := api.DaemonConfig{Listen: "127.0.0.1:0", Auth: "noauth", PolicyDefaults: "legacy", LogLevel: "info"}
	o, err := c.ServeOptions(idx, nil, nil)
	require.NoError(t, err)
	assert.NotNil(t, o.API.Authenticator)
	assert.NotNil(t, o.API.Enforcer)

	c.Auth = "http://127.0.0.1:5000/v3"
	_, err = c.ServeOptions(idx, nil, nil)
	assert.ErrorContains(t, err, "without a Keystone validator")
	var got string
	o, err = c.ServeOptions(idx, func(c api.DaemonConfig) (identity.Authenticator, error) { got = c.Auth; return api.NoAuth(), nil }, nil)
	require.NoError(t, err)
	assert.Equal(t, c.Auth, got)

	c.Auth, c.PolicyFile = "noauth", filepath.Join(t.TempDir(), "policy.yaml")
	require.NoError(t, os.WriteFile(c.PolicyFile, []byte(`"placement:resource_providers:list": "role:admin or"`), 0o600))
	_, err = c.ServeOptions(idx, nil, nil)
	assert.ErrorContains(t, err, "-policy-file")
}
