// Package servicegroup keeps a control-plane service's record alive in the
// database the way Nova's db servicegroup driver does: the service row
// (host, binary, topic) is created on first start and found again on the
// next, and a heartbeat every report interval bumps its report count and
// last-seen time, so `openstack compute service list` shows every
// nova-conductor and nova-scheduler with its state. Compute agents do
// not use it: they never touch the database and heartbeat through the
// conductor.
package servicegroup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/store"
)

// Register returns the service record of binary on host, creating it if
// it does not exist yet (two processes racing to create it both end with
// the same record).
func Register(ctx context.Context, st *store.Store, host, binary, topic string) (*compute.Service, error) {
	svc, err := st.Services().GetByHostBinary(ctx, host, binary)
	if err == nil {
		return svc, nil
	}
	if !errors.Is(err, compute.ErrNotFound) {
		return nil, fmt.Errorf("servicegroup: %s on %s: %w", binary, host, err)
	}
	svc, err = st.Services().Create(ctx, &compute.Service{Host: host, Binary: binary, Topic: topic})
	if errors.Is(err, compute.ErrConflict) {
		svc, err = st.Services().GetByHostBinary(ctx, host, binary)
	}
	if err != nil {
		return nil, fmt.Errorf("servicegroup: %s on %s: %w", binary, host, err)
	}
	return svc, nil
}

// Run registers the service and heartbeats it every interval (default
// compute.DefaultReportInterval) until ctx ends. The first heartbeat is
// immediate. A failed heartbeat is logged and retried at the next tick:
// the service shows as down only if the database stays unreachable for
// the service down time. Run returns the registration error, or nil when
// ctx ends.
func Run(ctx context.Context, st *store.Store, host, binary, topic string, interval time.Duration, log *slog.Logger) error {
	if interval <= 0 {
		interval = compute.DefaultReportInterval
	}
	if log == nil {
		log = slog.Default()
	}
	svc, err := Register(ctx, st, host, binary, topic)
	if err != nil {
		return err
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := st.Services().Heartbeat(ctx, svc.UUID); err != nil && ctx.Err() == nil {
			log.Warn("service heartbeat failed", "binary", binary, "host", host, "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
