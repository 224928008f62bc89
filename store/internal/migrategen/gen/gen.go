// Package gen is the body of migrategen, shared by every ent schema of
// novakit that keeps versioned migrations (store, store/placementstore):
// Main parses migrategen's flags and writes the next versioned migration
// of the given tables for every dialect, by diffing them against the
// migrations already checked in (replayed on a scratch "dev" database).
// See store/internal/migrategen for the flags.
package gen

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"time"

	atlasmigrate "ariga.io/atlas/sql/migrate"
	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"entgo.io/ent/dialect/sql/schema"
	_ "github.com/go-sql-driver/mysql" // registers "mysql"
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/novakit/novakit/internal/testsvc"
)

// Main runs migrategen for tables (an ent migrate package's Tables): it
// parses the command line flags and exits the process on failure.
func Main(tables []*schema.Table) {
	name := flag.String("name", os.Getenv("NOVAKIT_MIGRATION_NAME"), "name of the migration (required when the schema changed)")
	dir := flag.String("dir", "migrations", "the migrations directory (one subdirectory per dialect)")
	pg := flag.String("postgres", "", "URL of an empty PostgreSQL dev database (default: start one)")
	my := flag.String("mysql", "", "URL of an empty MySQL/MariaDB dev database (default: start one)")
	only := flag.String("only", "", "comma list of dialects to diff (sqlite,postgres,mysql); default all")
	rehash := flag.Bool("rehash", false, "only rewrite each dialect's atlas.sum (after editing a migration by hand, e.g. to add a data backfill)")
	flag.Parse()
	if *rehash {
		if err := rehashAll(*dir); err != nil {
			log.Fatalf("migrategen: %v", err)
		}
		return
	}
	if *name == "" {
		*name = "change"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := run(ctx, tables, *name, *dir, *pg, *my, *only); err != nil {
		log.Fatalf("migrategen: %v", err)
	}
}

func run(ctx context.Context, tables []*schema.Table, name, dir, pgURL, myURL, only string) error {
	want := func(d string) bool { return only == "" || strings.Contains(","+only+",", ","+d+",") }
	tmp, err := os.MkdirTemp("", "migrategen")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	if want("sqlite") {
		db, err := sql.Open("sqlite", "file::memory:?_pragma=foreign_keys(1)")
		if err != nil {
			return err
		}
		db.SetMaxOpenConns(1)
		err = diff(ctx, tables, dialect.SQLite, db, filepath.Join(dir, "sqlite"), name)
		db.Close()
		if err != nil {
			return fmt.Errorf("sqlite: %w", err)
		}
	}
	if want("postgres") {
		if pgURL == "" {
			srv, err := testsvc.StartPostgres(ctx, filepath.Join(tmp, "pg"))
			if err != nil {
				return fmt.Errorf("starting a PostgreSQL dev database: %w", err)
			}
			defer srv.Close()
			pgURL = srv.URL()
		}
		db, err := sql.Open("pgx", pgURL)
		if err != nil {
			return err
		}
		err = diff(ctx, tables, dialect.Postgres, db, filepath.Join(dir, "postgres"), name)
		db.Close()
		if err != nil {
			return fmt.Errorf("postgres: %w", err)
		}
	}
	if want("mysql") {
		if myURL == "" {
			srv, err := testsvc.StartMariaDB(ctx, filepath.Join(tmp, "mariadb"))
			if err != nil {
				return fmt.Errorf("starting a MariaDB dev database: %w", err)
			}
			defer srv.Close()
			admin, err := openMySQL(srv.URL())
			if err != nil {
				return err
			}
			if _, err := admin.ExecContext(ctx, "CREATE DATABASE migrategen_dev"); err != nil {
				admin.Close()
				return err
			}
			admin.Close()
			myURL = strings.TrimSuffix(srv.URL(), "/") + "/migrategen_dev"
		}
		db, err := openMySQL(myURL)
		if err != nil {
			return err
		}
		err = diff(ctx, tables, dialect.MySQL, db, filepath.Join(dir, "mysql"), name)
		db.Close()
		if err != nil {
			return fmt.Errorf("mysql: %w", err)
		}
	}
	return nil
}

// rehashAll rewrites the atlas.sum of every dialect directory, as
// `atlas migrate hash` does.
func rehashAll(dir string) error {
	for _, d := range []string{"sqlite", "postgres", "mysql"} {
		ldir, err := atlasmigrate.NewLocalDir(filepath.Join(dir, d))
		if err != nil {
			return err
		}
		sum, err := ldir.Checksum()
		if err != nil {
			return err
		}
		if err := atlasmigrate.WriteSumFile(ldir, sum); err != nil {
			return err
		}
		log.Printf("migrategen: %s: atlas.sum rewritten", d)
	}
	return nil
}

func openMySQL(raw string) (*sql.DB, error) {
	dsn, err := testsvc.MySQLDSN(raw)
	if err != nil {
		return nil, err
	}
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	return sql.Open("mysql", dsn+sep+"parseTime=true&multiStatements=true")
}

func diff(ctx context.Context, tables []*schema.Table, d string, db *sql.DB, path, name string) error {
	if err := os.MkdirAll(path, 0o755); err != nil {
		return err
	}
	ldir, err := atlasmigrate.NewLocalDir(path)
	if err != nil {
		return err
	}
	m, err := schema.NewMigrate(entsql.OpenDB(d, db),
		schema.WithDir(ldir),
		schema.WithMigrationMode(schema.ModeReplay),
		schema.WithDialect(d),
		schema.WithDropColumn(true),
		schema.WithDropIndex(true),
		schema.WithErrNoPlan(true),
		schema.WithFormatter(atlasmigrate.DefaultFormatter),
	)
	if err != nil {
		return err
	}
	err = m.NamedDiff(ctx, name, tables...)
	if errors.Is(err, atlasmigrate.ErrNoPlan) {
		log.Printf("migrategen: %s: schema unchanged", d)
		return nil
	}
	if err == nil {
		log.Printf("migrategen: %s: wrote migration %q in %s", d, name, path)
	}
	return err
}
