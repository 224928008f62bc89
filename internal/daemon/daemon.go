// Package daemon is the command-line plumbing every novakit daemon under
// examples/ shares (ARCHITECTURE.md, "Daemon conventions"): flags that are
// also read from NOVAKIT_<FLAG> environment variables and from an optional
// YAML -config file (a flag beats the environment, which beats the file,
// which beats the default), -log-level, and Main, which turns SIGTERM into
// a cancelled context (the daemon drains and exits 0) and a start failure
// into a one-line reason and exit status 1.
//
// It is internal: the public wiring layer is package cloud.
package daemon

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"gopkg.in/yaml.v3"
)

// EnvName is the environment variable of a flag: NOVAKIT_LOG_LEVEL for
// log-level.
func EnvName(flagName string) string {
	return "NOVAKIT_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// Flags is a daemon's flag set. Build it with New, declare flags with
// String, Int, Duration and Bool, then call Parse once. It is not safe for
// concurrent use.
type Flags struct {
	name, summary string
	fs            *flag.FlagSet
	logLevel      string
	config        string
}

// New returns the flag set of the daemon called name; summary is the
// first line of its -h output. -config and -log-level are declared
// already.
func New(name, summary string) *Flags {
	f := &Flags{name: name, summary: summary, fs: flag.NewFlagSet(name, flag.ContinueOnError)}
	f.fs.SetOutput(io.Discard)
	f.fs.Usage = func() {}
	f.fs.StringVar(&f.config, "config", "", "YAML file of settings keyed by flag name (env NOVAKIT_CONFIG)")
	f.String(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	return f
}

// String declares a string flag.
func (f *Flags) String(dst *string, name, def, help string) {
	f.fs.StringVar(dst, name, def, help+" (env "+EnvName(name)+")")
}

// Int declares an integer flag.
func (f *Flags) Int(dst *int, name string, def int, help string) {
	f.fs.IntVar(dst, name, def, help+" (env "+EnvName(name)+")")
}

// Duration declares a duration flag (values such as 30s, 2m).
func (f *Flags) Duration(dst *time.Duration, name string, def time.Duration, help string) {
	f.fs.DurationVar(dst, name, def, help+" (env "+EnvName(name)+")")
}

// Bool declares a boolean flag.
func (f *Flags) Bool(dst *bool, name string, def bool, help string) {
	f.fs.BoolVar(dst, name, def, help+" (env "+EnvName(name)+")")
}

// Parse reads args, then the environment through getenv, then the -config
// file (or NOVAKIT_CONFIG) for every flag args did not set. -h writes the
// usage to usage and returns flag.ErrHelp. Errors are one line naming the
// flag, variable or config key at fault. Positional arguments are refused
// unless allowArgs; Args returns them.
func (f *Flags) Parse(args []string, getenv func(string) string, usage io.Writer, allowArgs bool) error {
	if err := f.fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(usage, "Usage of %s (%s):\n", f.name, f.summary)
			f.fs.SetOutput(usage)
			f.fs.PrintDefaults()
			f.fs.SetOutput(io.Discard)
			return err
		}
		return fmt.Errorf("%v (see -h)", err)
	}
	if f.fs.NArg() > 0 && !allowArgs {
		return fmt.Errorf("unexpected argument %q (see -h)", f.fs.Arg(0))
	}
	set := map[string]bool{}
	f.fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	if !set["config"] {
		f.config = getenv(EnvName("config"))
	}
	file := map[string]string{}
	if f.config != "" {
		b, err := os.ReadFile(f.config)
		if err != nil {
			return fmt.Errorf("config file: %w", err)
		}
		var raw map[string]any
		if err := yaml.Unmarshal(b, &raw); err != nil {
			return fmt.Errorf("config file %s: not a YAML mapping: %s", f.config, strings.ReplaceAll(err.Error(), "\n", "; "))
		}
		keys := make([]string, 0, len(raw))
		for k := range raw {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if k == "config" || f.fs.Lookup(k) == nil {
				return fmt.Errorf("config file %s: unknown setting %q", f.config, k)
			}
			file[k] = fmt.Sprint(raw[k])
		}
	}
	var err error
	f.fs.VisitAll(func(fl *flag.Flag) {
		if err != nil || set[fl.Name] || fl.Name == "config" {
			return
		}
		if v := getenv(EnvName(fl.Name)); v != "" {
			if e := fl.Value.Set(v); e != nil {
				err = fmt.Errorf("%s=%q: %v", EnvName(fl.Name), v, e)
			}
		} else if v, ok := file[fl.Name]; ok {
			if e := fl.Value.Set(v); e != nil {
				err = fmt.Errorf("config file %s: setting %s=%q: %v", f.config, fl.Name, v, e)
			}
		}
	})
	if err != nil {
		return err
	}
	if _, err := parseLevel(f.logLevel); err != nil {
		return err
	}
	return nil
}

// Args returns the positional arguments after Parse.
func (f *Flags) Args() []string { return f.fs.Args() }

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("-log-level %q: want debug, info, warn or error", s)
	}
	return l, nil
}

// Logger returns a text logger writing to w at the -log-level Parse read.
func (f *Flags) Logger(w io.Writer) *slog.Logger {
	l, err := parseLevel(f.logLevel)
	if err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}

// RunFunc is a daemon's body: it parses args (reading the environment
// through getenv, writing -h to stderr), serves until ctx ends, drains and
// returns nil; it returns an error when it cannot start.
type RunFunc func(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error

// Main runs run with a context cancelled by SIGTERM or SIGINT and exits:
// 0 after a clean stop or -h, 1 with "name: reason" on one line of
// standard error otherwise. It does not return.
func Main(name string, run RunFunc) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		msg := strings.ReplaceAll(err.Error(), "\n", "; ")
		fmt.Fprintln(os.Stderr, name+": "+strings.TrimPrefix(msg, name+": "))
		os.Exit(1)
	}
	os.Exit(0)
}
