// Package testsvc starts real PostgreSQL, MariaDB and RabbitMQ servers for tests, from the Debian packages
// installed on the machine (scripts/test.sh installs them). It is meant for _test.go files only.
//
// Every server listens on 127.0.0.1 only, on free ports picked at start (never 5432/3306/5672), with its
// own data directory, so any number of servers and test binaries can run side by side. Each server
// runs as its own process group. Close kills it and removes its files; if the test binary dies without
// closing it (interrupted, timed out, crashed), a small guard process SIGKILLs the server's processes and
// removes its directories.
//
// Private servers, for tests that stop, kill or restart them:
//
//	srv := testsvc.Postgres(t)          // or MariaDB(t), RabbitMQ(t); closed by t.Cleanup
//	dbURL := testsvc.NewDatabase(t, srv) // fresh database, dropped by t.Cleanup
//	...
//	srv.Kill()                           // crash; srv.Start(ctx) recovers with the data
//
// Shared servers, started once per test binary and reused by every test in it:
//
//	func TestMain(m *testing.M) { testsvc.Main(m) }
//
//	func TestX(t *testing.T) {
//		dbURL := testsvc.NewDatabase(t, testsvc.SharedPostgres(t))
//		...
//	}
//
// URLs: postgres://postgres@127.0.0.1:PORT/postgres?sslmode=disable (open it with pgx, driver name "pgx"),
// mysql://root@127.0.0.1:PORT/ (convert it with MySQLDSN for github.com/go-sql-driver/mysql),
// amqp://guest:guest@127.0.0.1:PORT/.
//
// Start-up times measured on a 2-core Debian 12 machine (the higher figures while other tests ran):
// PostgreSQL 1-3 s for the first start (initdb included), 0.1-0.4 s for a restart (up to 2 s after Kill,
// for crash recovery); MariaDB 0.9-3 s first (mariadb-install-db included; up to 7 s on a busy machine),
// 0.1-0.3 s restart; RabbitMQ 3.5-6 s when the machine is idle and up
// to 15-20 s when it is busy, for the first start and for every restart alike (its Stop takes about 1 s).
// Prefer the Shared* helpers for RabbitMQ.
//
// When a server's binaries are missing, the test helpers skip the test with a loud message, unless the CI
// environment variable is non-empty or NOVAKIT_TEST_SERVICES=require, in which case they fail it.
// NOVAKIT_TEST_POSTGRES_URL, NOVAKIT_TEST_MARIADB_URL and NOVAKIT_TEST_RABBITMQ_URL point the Shared*
// helpers at external servers instead.
//
// When the tests run as root, PostgreSQL runs as the system user postgres and RabbitMQ as rabbitmq
// (MariaDB as root); as any other user, every server runs as that user.
package testsvc
