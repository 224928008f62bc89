package placementstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/novakit/novakit/placement"
	"github.com/novakit/novakit/store"
)

// Defaults of Options.
const (
	DefaultPollInterval = time.Second
	DefaultHoleTimeout  = 30 * time.Second
	DefaultRetention    = time.Hour
)

// Options tune Open. The zero value (or nil) gives the defaults.
type Options struct {
	// DB tunes the connections (timeouts, pool size) as for store.Open.
	DB *store.Options
	// Index configures the in-memory index (MaxCandidates).
	Index placement.Options
	// PollInterval is how often the Service reads the change log to follow
	// other processes' writes (default DefaultPollInterval); negative
	// disables following (a single placement process). An in-memory SQLite
	// database never needs it.
	PollInterval time.Duration
	// HoleTimeout is how long a change id below the highest one seen is
	// awaited (a write still committing) before it is taken as rolled back
	// (default DefaultHoleTimeout).
	HoleTimeout time.Duration
	// Retention is how long change log entries are kept (default
	// DefaultRetention). A Service that could not read the log for half of
	// it reloads everything.
	Retention time.Duration
	// SkipMigrate opens the database as it is, without applying pending
	// migrations.
	SkipMigrate bool
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
	// Logger receives background errors (default slog.Default()).
	Logger *slog.Logger
}

// Service is the persistent Placement: a SQL database (SQLite, PostgreSQL
// or MySQL/MariaDB) that is the truth, and a placement.Index in front of
// it that serves every read and allocation-candidate search. It has the
// method set of *placement.Index.
//
// Writes run one database transaction each: the rows they touch are
// locked (consumers, then providers, each in id order), Placement's checks
// (provider and consumer generations, capacity, min_unit, max_unit,
// step_size, inventory in use, names) are made against the state just read
// from the database by the Index's own code, and the changes are written
// with compare-and-swap generation updates and a change log entry. Only
// after the commit is the Index updated, so a read never sees a write that
// may still fail. Errors are the Index's typed errors (see package
// placement): the REST layer maps them the same way.
//
// Several processes may share one PostgreSQL or MySQL database (or one
// SQLite file): each follows the others' writes through the change log,
// polled every Options.PollInterval (and on Refresh), reloading exactly the
// providers and consumers that changed. A Service whose Index is behind
// may offer candidates that no longer fit; claiming one fails with a
// conflict (ErrCapacityExceeded or a generation conflict), never
// overcommits, and reloads what it touched.
//
// A Service is safe for concurrent use. Close stops following and closes
// the database.
type Service struct {
	ix   *placement.Index
	db   *db
	opts Options
	now  func() time.Time
	log  *slog.Logger

	// applyMu orders updates of the Index: versions holds, per entity
	// ("p:<uuid>", "c:<uuid>", "rc", "trait"), the change id of the state
	// the Index has, so that an older state never replaces a newer one.
	applyMu  sync.Mutex
	versions map[string]int64
	tombs    map[string]time.Time // deleted entities' keys in versions, and when

	// bmu guards the queue of writes waiting for the batch in progress.
	bmu        sync.Mutex
	queue      []*job
	leading    int // batches in progress
	maxLeaders int // 1 on SQLite (one writer), 2 on database servers (one batch fills while the other commits)

	fol    *follower
	pollMu sync.Mutex
	names  atomic.Pointer[nameLists]
	stop   chan struct{}
	done   chan struct{}
	closed atomic.Bool
}

// Open opens the Placement database named by rawURL (the URLs of
// store.Open: sqlite:///path, sqlite://:memory:, postgres://…, mysql://…),
// applies pending migrations (unless opts.SkipMigrate), records the
// standard resource classes and traits, loads everything into the Index
// and starts following other processes' writes. Errors name the URL
// without its password; an unreachable server wraps ErrUnavailable or
// compute.ErrUnavailable.
func Open(ctx context.Context, rawURL string, opts *Options) (*Service, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.PollInterval == 0 {
		o.PollInterval = DefaultPollInterval
	}
	if o.HoleTimeout <= 0 {
		o.HoleTimeout = DefaultHoleTimeout
	}
	if o.Retention <= 0 {
		o.Retention = DefaultRetention
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	conn, err := store.OpenSQL(ctx, rawURL, o.DB)
	if err != nil {
		return nil, err
	}
	d := &db{dialect: conn.Dialect, conn: conn}
	if d.dialect != store.Postgres {
		d.wc = &stmtCache{db: conn.Writer, m: map[string]*sql.Stmt{}, max: 512}
		d.rc = &stmtCache{db: conn.Reader, m: map[string]*sql.Stmt{}, max: 512}
	}
	s := &Service{db: d, opts: o, log: o.Logger, versions: map[string]int64{}, tombs: map[string]time.Time{}, maxLeaders: 1}
	if d.dialect != store.SQLite {
		s.maxLeaders = 2
	}
	s.now = func() time.Time { return o.Now().UTC().Truncate(time.Microsecond) }
	io := o.Index
	io.Now = s.now
	s.ix = placement.New(io)
	fail := func(err error) (*Service, error) {
		s.closeDB()
		return nil, err
	}
	if d.dialect == store.SQLite && conn.Writer != conn.Reader {
		// Checkpoint the WAL every ~40 MB rather than every 4 MB: the hot
		// pages (providers, inventories) are rewritten by every claim, and
		// a longer interval copies each of them to the database file once
		// per checkpoint instead of ten times. The writer's one connection
		// lives as long as the pool.
		if _, err := conn.Writer.ExecContext(ctx, "PRAGMA wal_autocheckpoint=10000"); err != nil {
			return fail(d.wrap(err, "configuring the WAL"))
		}
	}
	if !o.SkipMigrate {
		if _, err := d.migrateDB(ctx, s.now()); err != nil {
			return fail(err)
		}
	}
	if err := s.seed(ctx); err != nil {
		return fail(err)
	}
	s.fol = newFollower(o.HoleTimeout)
	if err := s.reloadAll(ctx); err != nil {
		return fail(err)
	}
	if o.PollInterval > 0 && !strings.Contains(rawURL, ":memory:") {
		s.stop, s.done = make(chan struct{}), make(chan struct{})
		go s.followLoop()
	}
	return s, nil
}

// Index returns the in-memory index the Service keeps current. It is for
// reads only: writing to it directly would make it disagree with the
// database until the next reload.
func (s *Service) Index() *placement.Index { return s.ix }

// Close stops following and closes the database. It is safe to call
// twice; calls made after Close fail.
func (s *Service) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	if s.stop != nil {
		close(s.stop)
		<-s.done
	}
	return s.closeDB()
}

func (s *Service) closeDB() error {
	if s.db.wc != nil {
		s.db.wc.close()
		s.db.rc.close()
	}
	return s.db.conn.Close()
}

var errClosed = errors.New("placementstore: service closed")

func (s *Service) check(ctx context.Context) error {
	if s.closed.Load() {
		return errClosed
	}
	return ctx.Err()
}

// seed records the standard resource classes and traits the database does
// not have yet (foreign keys refer to them).
func (s *Service) seed(ctx context.Context) error {
	return s.db.writeTx(ctx, func(t *tx) error {
		for _, spec := range []struct {
			table string
			names []string
		}{{"resource_classes", placement.StandardResourceClasses()}, {"traits", placement.StandardTraits()}} {
			rows, err := t.query("SELECT name FROM " + spec.table)
			if err != nil {
				return t.d.wrap(err, "reading "+spec.table)
			}
			have := map[string]bool{}
			for rows.Next() {
				var n string
				if err := rows.Scan(&n); err != nil {
					rows.Close()
					return err
				}
				have[n] = true
			}
			rows.Close()
			var missing []string
			for _, n := range spec.names {
				if !have[n] {
					missing = append(missing, n)
				}
			}
			sort.Strings(missing)
			for len(missing) > 0 {
				batch := missing[:min(len(missing), 100)]
				missing = missing[len(batch):]
				q := "INSERT INTO " + spec.table + " (name) VALUES " + strings.TrimSuffix(strings.Repeat("(?),", len(batch)), ",")
				q = t.d.insertIgnore(q)
				if _, err := t.exec(q, anys(batch)...); err != nil {
					return t.d.wrap(err, "seeding "+spec.table)
				}
			}
		}
		return nil
	})
}

// insertIgnore turns an INSERT into one that skips rows whose key exists.
func (d *db) insertIgnore(q string) string {
	switch d.dialect {
	case store.MySQL:
		return strings.Replace(q, "INSERT INTO", "INSERT IGNORE INTO", 1)
	default:
		return q + " ON CONFLICT DO NOTHING"
	}
}

// reloadAll replaces the Index's content with the database's, holding
// applyMu so that no write applies meanwhile.
func (s *Service) reloadAll(ctx context.Context) error {
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	var (
		st       placement.State
		versions map[string]int64
		maxID    int64
	)
	err := s.db.readTx(ctx, func(t *tx) error {
		var err error
		if maxID, err = t.maxChangeID(); err != nil {
			return err
		}
		st, versions, err = t.loadAll()
		return err
	})
	if err != nil {
		return err
	}
	if err := s.ix.Load(ctx, st); err != nil {
		return fmt.Errorf("placementstore: loading the index from %s: %w", s.db.conn.URL, err)
	}
	s.setNames(nonNil(st.CustomResourceClasses), nonNil(st.CustomTraits))
	for k, v := range versions {
		if v > s.versions[k] {
			s.versions[k] = v
		}
	}
	if s.versions["rc"] < maxID {
		s.versions["rc"] = maxID
	}
	if s.versions["trait"] < maxID {
		s.versions["trait"] = maxID
	}
	s.fol.reset(maxID, s.now())
	return nil
}

func (t *tx) maxChangeID() (int64, error) {
	var id *int64
	if err := t.tx.QueryRowContext(t.ctx, "SELECT MAX(id) FROM placement_changes").Scan(&id); err != nil {
		return 0, t.d.wrap(err, "reading the change log")
	}
	if id == nil {
		return 0, nil
	}
	return *id, nil
}

// ---------------------------------------------------------------------------
// Reads: served by the Index.

// Provider returns one provider (see placement.Index.Provider).
func (s *Service) Provider(ctx context.Context, u string) (placement.ResourceProvider, error) {
	return s.ix.Provider(ctx, u)
}

// Providers lists providers (see placement.Index.Providers).
func (s *Service) Providers(ctx context.Context, f placement.ProviderFilter) ([]placement.ResourceProvider, error) {
	return s.ix.Providers(ctx, f)
}

// Inventories returns a provider's inventories and generation.
func (s *Service) Inventories(ctx context.Context, u string) (map[string]placement.Inventory, int64, error) {
	return s.ix.Inventories(ctx, u)
}

// ProviderUsages returns a provider's usages and generation.
func (s *Service) ProviderUsages(ctx context.Context, u string) (map[string]int64, int64, error) {
	return s.ix.ProviderUsages(ctx, u)
}

// Traits returns a provider's traits and generation.
func (s *Service) Traits(ctx context.Context, u string) ([]string, int64, error) {
	return s.ix.Traits(ctx, u)
}

// Aggregates returns a provider's aggregates and generation.
func (s *Service) Aggregates(ctx context.Context, u string) ([]string, int64, error) {
	return s.ix.Aggregates(ctx, u)
}

// ResourceClasses lists every resource class.
func (s *Service) ResourceClasses(ctx context.Context) ([]string, error) {
	return s.ix.ResourceClasses(ctx)
}

// TraitNames lists every trait.
func (s *Service) TraitNames(ctx context.Context) ([]string, error) { return s.ix.TraitNames(ctx) }

// Consumer returns a consumer and its allocations.
func (s *Service) Consumer(ctx context.Context, consumer string) (placement.Consumer, error) {
	return s.ix.Consumer(ctx, consumer)
}

// ProviderAllocations returns the allocations against one provider.
func (s *Service) ProviderAllocations(ctx context.Context, u string) (map[string]map[string]int64, int64, error) {
	return s.ix.ProviderAllocations(ctx, u)
}

// Usages sums a project's (and user's) allocations by consumer type.
func (s *Service) Usages(ctx context.Context, f placement.UsageFilter) ([]placement.Usage, error) {
	return s.ix.Usages(ctx, f)
}

// Candidates answers GET /allocation_candidates from the Index, lock-free
// (see placement.Index.Candidates).
func (s *Service) Candidates(ctx context.Context, req *placement.CandidateRequest) (*placement.CandidateResult, error) {
	return s.ix.Candidates(ctx, req)
}
