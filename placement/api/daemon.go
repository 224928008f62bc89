package api

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/novakit/novakit/identity"
)

// DaemonConfig is the configuration of a Placement daemon, read by
// ParseDaemonConfig with novakit's daemon conventions.
type DaemonConfig struct {
	// Listen is host:port (default DefaultListen).
	Listen string
	// DB is the database URL ("" = an in-memory Index, lost on exit).
	DB string
	// Auth is "noauth" (Placement's noauth2: the token "admin" is admin)
	// or the URL of a Keystone identity service.
	Auth string
	// PolicyFile is an oslo.policy YAML or JSON file of rule overrides.
	PolicyFile string
	// PolicyDefaults is "legacy" or "secure-rbac".
	PolicyDefaults string
	// LogLevel is debug, info, warn or error.
	LogLevel string
	// DrainTimeout bounds the graceful stop on SIGTERM.
	DrainTimeout time.Duration
	// KeystoneUser, KeystonePassword and KeystoneProject are the service
	// credentials a Keystone validator logs in with (users and projects of
	// the Default domain), as keystonemiddleware's [keystone_authtoken].
	// Give the password through NOVAKIT_KEYSTONE_PASSWORD or the config
	// file rather than on the command line.
	KeystoneUser, KeystonePassword, KeystoneProject string
}

type daemonFlag struct {
	name, help, def string
	dst             *string
}

func (c *DaemonConfig) flags() []daemonFlag {
	return []daemonFlag{
		{"listen", "host:port to serve the Placement API on", DefaultListen, &c.Listen},
		{"db", "database URL (sqlite://FILE, postgres://…, mysql://…); empty: in memory", "", &c.DB},
		{"auth", "noauth (token \"admin\" is admin, \"user:project\" anyone else) or a Keystone URL", "noauth", &c.Auth},
		{"policy-file", "oslo.policy YAML/JSON file overriding rules", "", &c.PolicyFile},
		{"policy-defaults", "default policy rules: legacy (admin only) or secure-rbac", "legacy", &c.PolicyDefaults},
		{"log-level", "debug, info, warn or error", "info", &c.LogLevel},
		{"keystone-user", "service user validating tokens with -auth KEYSTONE_URL", "placement", &c.KeystoneUser},
		{"keystone-password", "its password (prefer the environment or -config)", "", &c.KeystonePassword},
		{"keystone-project", "its project", "service", &c.KeystoneProject},
	}
}

// envName is the environment variable of a flag: NOVAKIT_LOG_LEVEL for
// log-level.
func envName(flag string) string {
	return "NOVAKIT_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// ParseDaemonConfig reads the configuration of the daemon called name from
// command-line args, the environment (getenv; NOVAKIT_<FLAG>, e.g.
// NOVAKIT_DB, NOVAKIT_LOG_LEVEL) and an optional YAML file named by
// -config or NOVAKIT_CONFIG whose keys are the flag names. A flag beats
// the environment, which beats the file, which beats the default. -h
// writes the usage to usage and returns flag.ErrHelp. Errors are one line
// naming the flag, variable or key at fault.
func ParseDaemonConfig(name string, args []string, getenv func(string) string, usage io.Writer) (DaemonConfig, error) {
	var c DaemonConfig
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fl := c.flags()
	for _, f := range fl {
		fs.StringVar(f.dst, f.name, f.def, f.help+" (env "+envName(f.name)+")")
	}
	drain := fs.Duration("drain-timeout", DefaultDrainTimeout, "how long SIGTERM waits for requests in flight (env NOVAKIT_DRAIN_TIMEOUT)")
	config := fs.String("config", "", "YAML file of settings keyed by flag name (env NOVAKIT_CONFIG)")
	fs.Usage = func() {} // -h prints below; a bad flag is one line
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(usage, "Usage of %s (OpenStack Placement API):\n", name)
			fs.SetOutput(usage)
			fs.PrintDefaults()
			return c, err
		}
		return c, fmt.Errorf("%v (see -h)", err)
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q (see -h)", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if !set["config"] {
		*config = getenv(envName("config"))
	}
	file := map[string]string{}
	if *config != "" {
		b, err := os.ReadFile(*config)
		if err != nil {
			return c, fmt.Errorf("config file: %w", err)
		}
		var raw map[string]any
		if err := yaml.Unmarshal(b, &raw); err != nil {
			return c, fmt.Errorf("config file %s: not a YAML mapping: %s", *config, oneLine(err))
		}
		known := map[string]bool{"drain-timeout": true}
		for _, f := range fl {
			known[f.name] = true
		}
		keys := make([]string, 0, len(raw))
		for k := range raw {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if !known[k] {
				return c, fmt.Errorf("config file %s: unknown setting %q", *config, k)
			}
			file[k] = fmt.Sprint(raw[k])
		}
	}
	for _, f := range fl {
		if set[f.name] {
			continue
		}
		if v := getenv(envName(f.name)); v != "" {
			*f.dst = v
		} else if v, ok := file[f.name]; ok {
			*f.dst = v
		}
	}
	c.DrainTimeout = *drain
	if !set["drain-timeout"] {
		src, v := envName("drain-timeout"), getenv(envName("drain-timeout"))
		if v == "" {
			src, v = "config file setting drain-timeout", file["drain-timeout"]
		}
		if v != "" {
			d, err := time.ParseDuration(v)
			if err != nil {
				return c, fmt.Errorf("%s: %q is not a duration (e.g. 30s)", src, v)
			}
			c.DrainTimeout = d
		}
	}
	if _, err := ParsePolicyDefaults(c.PolicyDefaults); err != nil {
		return c, fmt.Errorf("-policy-defaults: %w", err)
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		return c, err
	}
	if c.Auth != "noauth" {
		if u, err := url.Parse(c.Auth); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return c, fmt.Errorf("-auth %q: want noauth or a Keystone URL (http://host:5000/v3)", c.Auth)
		}
	}
	return c, nil
}

func oneLine(err error) string { return strings.ReplaceAll(err.Error(), "\n", "; ") }

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("-log-level %q: want debug, info, warn or error", s)
	}
	return l, nil
}

// Logger returns a text logger writing to w at c.LogLevel.
func (c DaemonConfig) Logger(w io.Writer) *slog.Logger {
	l, err := parseLevel(c.LogLevel)
	if err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}

// KeystoneOpener returns an Authenticator validating tokens against the
// Keystone at c.Auth with c's service credentials (identity/keystone
// provides one).
type KeystoneOpener func(c DaemonConfig) (identity.Authenticator, error)

// ServeOptions turns c into the options of Serve over backend b: the
// authenticator (NoAuth, or keystone(c.Auth) — nil keystone refuses a
// Keystone URL), the policy (defaults and policy file) and the logger.
// Errors are one line naming the setting at fault.
func (c DaemonConfig) ServeOptions(b Backend, keystone KeystoneOpener, log *slog.Logger) (ServeOptions, error) {
	o := ServeOptions{Listen: c.Listen, Backend: b, Logger: log, DrainTimeout: c.DrainTimeout}
	if c.Auth == "noauth" || c.Auth == "" {
		o.API.Authenticator = NoAuth()
	} else {
		if keystone == nil {
			return o, fmt.Errorf("-auth %s: this daemon was built without a Keystone validator; use -auth noauth", c.Auth)
		}
		a, err := keystone(c)
		if err != nil {
			return o, fmt.Errorf("-auth %s: %s", c.Auth, oneLine(err))
		}
		o.API.Authenticator = a
	}
	d, err := ParsePolicyDefaults(c.PolicyDefaults)
	if err != nil {
		return o, fmt.Errorf("-policy-defaults: %w", err)
	}
	enf, err := NewEnforcer(d, nil)
	if err != nil {
		return o, err
	}
	if c.PolicyFile != "" {
		if err := enf.LoadFile(c.PolicyFile); err != nil {
			return o, fmt.Errorf("-policy-file: %s", oneLine(err))
		}
	}
	o.API.Enforcer = enf
	o.API.Logger = log
	return o, nil
}
