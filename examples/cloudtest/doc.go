// Package cloudtest holds the multi-process tests of novakit's daemons:
// examples/placement, api, conductor, scheduler and compute built as
// binaries and run as separate processes over a real PostgreSQL and a
// real RabbitMQ (internal/testsvc), driven through the OpenStack APIs with
// gophercloud, with conductors and agents killed with SIGKILL, RabbitMQ
// restarted and PostgreSQL stopped while servers boot.
//
// BenchmarkBoots measures boots per second through such a deployment:
//
//	go test -run '^$' -bench Boots -benchtime=1000x ./examples/cloudtest
package cloudtest
