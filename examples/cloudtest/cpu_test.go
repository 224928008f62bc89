package cloudtest

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver of readPGStats
)

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's CPU times (100 on
// every Linux this runs on).
const clockTicks = 100

// procCPU is one process's CPU time as /proc/<pid>/stat reports it: its
// own user+system time plus that of its children it has reaped (so a
// PostgreSQL backend that exited is counted in the postmaster).
type procCPU struct {
	pid   int
	name  string // comm, or the novakit daemon's name
	ticks int64
}

// cpuTree returns the CPU times of every live descendant of root
// (the test binary: it started the daemons, PostgreSQL and RabbitMQ).
// names maps the daemons' pids to their names; PostgreSQL's processes are
// named by their title: "postgres DB" for a backend serving the database
// dbNames maps to DB, "postgres checkpointer" … for the others, and
// "postgres postmaster" (with the backends that exited: connection churn
// shows there).
func cpuTree(root int, names map[int]string, dbNames map[string]string) map[int]procCPU {
	type st struct {
		ppid  int
		comm  string
		ticks int64
	}
	all := map[int]st{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid … utime(14) stime(15) cutime(16) cstime(17)
		i, j := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
		if i < 0 || j < i {
			continue
		}
		f := strings.Fields(string(b[j+2:]))
		if len(f) < 15 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		var t int64
		for _, k := range []int{11, 12, 13, 14} {
			v, _ := strconv.ParseInt(f[k], 10, 64)
			t += v
		}
		all[pid] = st{ppid, string(b[i+1 : j]), t}
	}
	out := map[int]procCPU{}
	var walk func(int)
	walk = func(p int) {
		for pid, s := range all {
			if s.ppid == p {
				if _, seen := out[pid]; seen {
					continue
				}
				n := s.comm
				if dn, ok := names[pid]; ok {
					n = dn
				} else if n == "postgres" {
					n = pgProcName(pid, dbNames)
				}
				out[pid] = procCPU{pid, n, s.ticks}
				walk(pid)
			}
		}
	}
	walk(root)
	return out
}

// cpuDelta sums, by process name, the CPU seconds spent between two
// cpuTree snapshots (a daemon's number suffix is kept: conductor1).
func cpuDelta(before, after map[int]procCPU) (byName map[string]float64, total float64) {
	byName = map[string]float64{}
	for pid, a := range after {
		d := a.ticks - before[pid].ticks
		if d <= 0 {
			continue
		}
		s := float64(d) / clockTicks
		byName[a.name] += s
		total += s
	}
	return byName, total
}

// formatCPU renders byName, busiest first.
func formatCPU(byName map[string]float64, n int) string {
	type kv struct {
		k string
		v float64
	}
	var kvs []kv
	for k, v := range byName {
		kvs = append(kvs, kv{k, v})
	}
	sort.Slice(kvs, func(i, j int) bool { return kvs[i].v > kvs[j].v })
	var sb strings.Builder
	for _, e := range kvs {
		fmt.Fprintf(&sb, "%s %.2fs (%.2f ms/boot); ", e.k, e.v, 1000*e.v/float64(n))
	}
	return sb.String()
}

// pgStats is what PostgreSQL counted for one database: transactions and,
// per table, rows inserted, updated, deleted and the scans that read it.
type pgStats struct {
	commits, rollbacks int64
	returned, fetched  int64               // rows read by scans, and fetched by index scans
	tables             map[string][5]int64 // ins, upd, del, idx_scan, seq_scan
}

// readPGStats reads pg_stat_database and pg_stat_user_tables of the
// database dbURL names (the statistics lag by up to the stats flush
// interval; a clear of the snapshot makes them current for this session).
func readPGStats(ctx context.Context, dbURL string) (pgStats, error) {
	s := pgStats{tables: map[string][5]int64{}}
	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		return s, err
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return s, err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "SELECT pg_stat_clear_snapshot()"); err != nil {
		return s, err
	}
	if err := conn.QueryRowContext(ctx, `SELECT xact_commit, xact_rollback, tup_returned, tup_fetched FROM pg_stat_database WHERE datname = current_database()`).Scan(&s.commits, &s.rollbacks, &s.returned, &s.fetched); err != nil {
		return s, err
	}
	rows, err := conn.QueryContext(ctx, `SELECT relname, n_tup_ins, n_tup_upd, n_tup_del, coalesce(idx_scan, 0), seq_scan FROM pg_stat_user_tables`)
	if err != nil {
		return s, err
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		var v [5]int64
		if err := rows.Scan(&name, &v[0], &v[1], &v[2], &v[3], &v[4]); err != nil {
			return s, err
		}
		s.tables[name] = v
	}
	return s, rows.Err()
}

// pgDelta renders the per-boot difference of two readings.
func pgDelta(before, after pgStats, n int) string {
	var sb strings.Builder
	f := float64(n)
	fmt.Fprintf(&sb, "commits %.1f/boot, rollbacks %.2f/boot, rows returned %.0f/boot, fetched %.0f/boot; per boot (ins/upd/del/idx_scan/seq_scan): ",
		float64(after.commits-before.commits)/f, float64(after.rollbacks-before.rollbacks)/f,
		float64(after.returned-before.returned)/f, float64(after.fetched-before.fetched)/f)
	var names []string
	for k := range after.tables {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		a, b := after.tables[k], before.tables[k]
		var d [5]float64
		zero := true
		for i := range d {
			d[i] = float64(a[i]-b[i]) / f
			zero = zero && a[i] == b[i]
		}
		if !zero {
			fmt.Fprintf(&sb, "%s %.1f/%.1f/%.1f/%.1f/%.1f; ", k, d[0], d[1], d[2], d[3], d[4])
		}
	}
	return sb.String()
}

// pgProcName names a PostgreSQL process by its title ("postgres: user db
// host(port) state", "postgres: walwriter", or the postmaster's command
// line).
func pgProcName(pid int, dbNames map[string]string) string {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
	if err != nil {
		return "postgres"
	}
	title := strings.TrimRight(strings.ReplaceAll(string(b), "\x00", " "), " ")
	rest, ok := strings.CutPrefix(title, "postgres: ")
	if !ok {
		return "postgres postmaster"
	}
	f := strings.Fields(rest)
	if len(f) >= 2 {
		if n, ok := dbNames[f[1]]; ok {
			return "postgres " + n
		}
	}
	if len(f) > 0 {
		return "postgres " + f[0]
	}
	return "postgres"
}
