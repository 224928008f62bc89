// Package storesource adapts a *store.Store to scheduler.HostSource, so
// that the scheduler package itself never imports the store.
package storesource

import (
	"context"
	"time"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/scheduler"
	"github.com/novakit/novakit/store"
)

// ComputeBinary is the binary name of compute services.
const ComputeBinary = "nova-compute"

// Source reads host records from a store. Safe for concurrent use (the
// store is).
type Source struct{ st *store.Store }

var _ scheduler.HostSource = (*Source)(nil)

// New returns a Source over st.
func New(st *store.Store) *Source { return &Source{st: st} }

// ComputeNodes lists every compute node.
func (s *Source) ComputeNodes(ctx context.Context) ([]*compute.ComputeNode, error) {
	return s.st.ComputeNodes().List(ctx, store.ComputeNodeFilter{}, compute.ListOptions{})
}

// ComputeServices lists the nova-compute services.
func (s *Source) ComputeServices(ctx context.Context) ([]*compute.Service, error) {
	return s.st.Services().List(ctx, store.ServiceFilter{Binary: ComputeBinary})
}

// Aggregates lists every aggregate with hosts and metadata.
func (s *Source) Aggregates(ctx context.Context) ([]*compute.Aggregate, error) {
	return s.st.Aggregates().List(ctx)
}

// Instances lists live instances (since zero) or every instance updated at
// or after since, deleted ones included.
func (s *Source) Instances(ctx context.Context, since time.Time) ([]*compute.Instance, error) {
	if since.IsZero() {
		return s.st.Instances().List(ctx, compute.InstanceFilter{}, compute.ListOptions{})
	}
	return s.st.Instances().List(ctx, compute.InstanceFilter{ChangesSince: since, Deleted: compute.ReadDeletedYes}, compute.ListOptions{})
}
