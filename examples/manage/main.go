// Command manage is novakit's operator command (nova-manage's shape).
// Today it manages the database schema; service and host commands come
// with the services.
//
//	go run ./examples/manage -db sqlite:///var/lib/novakit/nova.db db sync
//	go run ./examples/manage -db postgres://nova@db/nova db version
//
// `db sync` creates the schema or upgrades it to this binary's newest
// migration (the function every daemon's store.Open calls); `db version`
// lists the migrations and which are applied. -db defaults to
// $NOVAKIT_DB. It exits non-zero with a one-line reason on failure.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/novakit/novakit/store"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "manage:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("manage", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	db := fs.String("db", os.Getenv("NOVAKIT_DB"), "database URL (sqlite://…, postgres://…, mysql://…); default $NOVAKIT_DB")
	timeout := fs.Duration("timeout", 5*time.Second, "how long to wait for the database server")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w (usage: manage -db URL db sync|version)", err)
	}
	rest := fs.Args()
	if len(rest) != 2 || rest[0] != "db" || (rest[1] != "sync" && rest[1] != "version") {
		return errors.New("usage: manage -db URL db sync|version")
	}
	if *db == "" {
		return errors.New("no database: give -db URL or set NOVAKIT_DB")
	}
	// Open without migrating, so that `db version` reports what is there
	// and `db sync` says what it applied.
	st, err := store.Open(ctx, *db, &store.Options{SkipMigrate: true, ConnectTimeout: *timeout})
	if err != nil {
		return err
	}
	defer st.Close()
	switch rest[1] {
	case "sync":
		applied, err := st.Migrate(ctx)
		if err != nil {
			return err
		}
		if len(applied) == 0 {
			fmt.Fprintf(out, "%s: schema is up to date\n", st)
		}
		for _, v := range applied {
			fmt.Fprintf(out, "%s: applied %s\n", st, v)
		}
	case "version":
		ms, err := st.SchemaMigrations(ctx)
		if err != nil {
			return err
		}
		for _, m := range ms {
			state := "pending"
			if !m.AppliedAt.IsZero() {
				state = "applied " + m.AppliedAt.Format(time.RFC3339)
			}
			fmt.Fprintf(out, "%s %-24s %s\n", m.Version, m.Description, state)
		}
	}
	return nil
}
