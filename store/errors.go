package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strings"
	"sync"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/store/internal/ent"
)

// ErrSchemaTooNew says the database was migrated by a newer novakit than
// this one: it holds migrations this binary does not know.
var ErrSchemaTooNew = errors.New("store: database schema is newer than this binary")

// classify turns an ent or driver error into a domain error: not found,
// duplicate (conflict) and unavailable are recognised, everything else is
// wrapped as it is. kind and key name the record for messages.
func (s *Store) classify(err error, kind, key string) error {
	if err == nil {
		return nil
	}
	var ve *ent.ValidationError
	if errors.As(err, &ve) {
		// ent's field validators (lengths): name the field, drop ent's prose.
		reason := ve.Error()
		if i := strings.LastIndex(reason, ": "); i >= 0 {
			reason = reason[i+2:]
		}
		return compute.InvalidInput(ve.Name, "%s", reason)
	}
	switch {
	case ent.IsNotFound(err):
		return compute.NotFound(kind, key)
	case ent.IsConstraintError(err) || isUniqueViolation(err):
		return &compute.DuplicateError{Kind: kind, Key: key}
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("store: %s %s: %w", kind, key, err)
	case isUnavailable(err):
		return fmt.Errorf("store: %s: %w: %w", s.redacted, compute.ErrUnavailable, unwrapEnt(err))
	}
	return fmt.Errorf("store: %s %s: %w", kind, key, unwrapEnt(err))
}

// unwrapEnt strips ent's error types so none leaves the package.
func unwrapEnt(err error) error {
	var ce *ent.ConstraintError
	if errors.As(err, &ce) {
		if u := ce.Unwrap(); u != nil {
			return u
		}
	}
	var nf *ent.NotFoundError
	if errors.As(err, &nf) {
		return errors.New(nf.Error())
	}
	var nse *ent.NotSingularError
	if errors.As(err, &nse) {
		return errors.New(nse.Error())
	}
	var ve *ent.ValidationError
	if errors.As(err, &ve) {
		return fmt.Errorf("%w: %s", compute.ErrInvalidInput, ve.Error())
	}
	return err
}

func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23505"
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number == 1062
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		// SQLITE_CONSTRAINT_UNIQUE and SQLITE_CONSTRAINT_PRIMARYKEY
		return se.Code() == 2067 || se.Code() == 1555
	}
	return false
}

// isUnavailable recognises errors that mean the database cannot be
// reached (as opposed to a bad statement): the caller may retry later.
func isUnavailable(err error) bool {
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, mysql.ErrInvalidConn) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// class 08: connection exception; 57P0x: admin shutdown, crash
		// shutdown, cannot connect now.
		return len(pe.Code) == 5 && (pe.Code[:2] == "08" || pe.Code[:4] == "57P0")
	}
	if pgconn.SafeToRetry(err) {
		return true
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		// 1040 too many connections, 1053 server shutdown, 2002/2003/2006/2013 connection
		switch me.Number {
		case 1040, 1053, 2002, 2003, 2006, 2013:
			return true
		}
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		// SQLITE_BUSY / SQLITE_LOCKED after the busy timeout
		return se.Code()&0xff == 5 || se.Code()&0xff == 6
	}
	return false
}

// regexpCache compiles the patterns SQLite's REGEXP is called with,
// keeping a bounded number of them.
type regexpCache struct {
	mu  sync.Mutex
	max int
	m   map[string]*regexp.Regexp
}

func newRegexpCache(max int) *regexpCache {
	return &regexpCache{max: max, m: map[string]*regexp.Regexp{}}
}

func (c *regexpCache) get(pattern string) (*regexp.Regexp, error) {
	c.mu.Lock()
	re, ok := c.m[pattern]
	c.mu.Unlock()
	if ok {
		return re, nil
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if len(c.m) >= c.max {
		clear(c.m)
	}
	c.m[pattern] = re
	c.mu.Unlock()
	return re, nil
}

// sqliteFunc implements SQLite's "X REGEXP Y", which calls regexp(Y, X).
func (c *regexpCache) sqliteFunc(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
	pat, _ := args[0].(string)
	var subject string
	switch v := args[1].(type) {
	case string:
		subject = v
	case []byte:
		subject = string(v)
	case nil:
		return int64(0), nil
	default:
		subject = fmt.Sprint(v)
	}
	re, err := c.get(pat)
	if err != nil {
		return nil, err
	}
	if re.MatchString(subject) {
		return int64(1), nil
	}
	return int64(0), nil
}
