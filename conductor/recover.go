package conductor

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/store"
)

// RecoveryReport counts what one Recover pass found abandoned and
// finished.
type RecoveryReport struct {
	// Builds: instances left scheduling, now ERROR with a fault and no
	// allocations.
	Builds int
	// Migrations: resizes and cold migrations left pre-migrating (or
	// instances left in resize_prep without one), rolled back.
	Migrations int
	// Evacuations: evacuations left accepted, rolled back (instance
	// ERROR, allocations on the source only).
	Evacuations int
	// Unshelves: offloaded instances left unshelving, back to
	// shelved_offloaded without allocations.
	Unshelves int
	// Released: ERROR instances without a host (buried builds) whose
	// allocations were still held, released.
	Released int
}

// errInterrupted is the cause recorded on flows Recover finishes.
var errInterrupted = errors.New("the conductor handling the request stopped before handing it to a compute host")

// Recover finds the flows a conductor abandoned (it crashed, or its host
// died) and finishes them from what the database and placement say: the
// conductor-owned states older than Config.StuckAfter. Builds still
// scheduling go to ERROR with a fault and their allocations released;
// resizes and cold migrations still pre-migrating are rolled back (the
// source allocation moved back from the migration consumer, the
// destination claim dropped, migration error, task_state None);
// evacuations still accepted are rolled back to the source (instance
// ERROR, as a failed evacuation); offloaded instances still unshelving
// go back to shelved_offloaded without allocations.
//
// ERROR instances without a host (builds buried by a conductor that died
// before it released their allocations) lose their allocations.
//
// Every step is a compare-and-swap on the state it found, so a flow that
// an agent took over meanwhile is left alone, and Recover may run
// concurrently with live conductors and with itself. Run it at start and
// periodically. It returns what it did and the first store error that
// kept it from looking (per-record failures are logged and retried by
// the next pass).
func (s *Service) Recover(ctx context.Context) (RecoveryReport, error) {
	var rep RecoveryReport
	cutoff := s.cfg.Now().Add(-s.cfg.StuckAfter)

	// Builds.
	stuck, err := s.st.Instances().List(ctx, compute.InstanceFilter{
		VMStates: []compute.VMState{compute.VMBuilding}, TaskStates: []compute.TaskState{compute.TaskScheduling},
	}, compute.ListOptions{})
	if err != nil {
		return rep, fmt.Errorf("conductor: recover: %w", err)
	}
	for _, in := range stuck {
		if in.Deleted || in.UpdatedAt.After(cutoff) {
			continue
		}
		s.bury(ctx, in.UUID, s.requestOf(ctx, in.UUID, compute.ActionCreate), EventScheduleAndBuild,
			"Build of instance "+in.UUID+" was interrupted: "+errInterrupted.Error()+".", errInterrupted)
		if cur, err := s.st.Instances().Get(ctx, in.UUID); err == nil && cur.VMState == compute.VMError {
			rep.Builds++
		}
	}

	// Buried instances (ERROR, never placed: no host) whose allocations
	// a dead conductor did not release.
	buried, err := s.st.Instances().List(ctx, compute.InstanceFilter{
		VMStates: []compute.VMState{compute.VMError},
	}, compute.ListOptions{})
	if err != nil {
		return rep, fmt.Errorf("conductor: recover: %w", err)
	}
	for _, in := range buried {
		if in.Deleted || in.Host != "" || in.UpdatedAt.After(cutoff) {
			continue
		}
		if _, ok, err := s.consumer(ctx, in.UUID); err != nil || !ok {
			continue
		}
		if err := s.release(ctx, in.UUID); err == nil {
			rep.Released++
		}
	}

	// Resizes, cold migrations and evacuations.
	migs, err := s.st.Migrations().List(ctx, store.MigrationFilter{
		Status: []string{compute.MigrationPreMigrating, compute.MigrationAccepted},
	}, compute.ListOptions{})
	if err != nil {
		return rep, fmt.Errorf("conductor: recover: %w", err)
	}
	withMigration := map[string]bool{}
	for _, m := range migs {
		withMigration[m.InstanceUUID] = true
		if m.UpdatedAt.After(cutoff) {
			continue
		}
		in, err := s.st.Instances().Get(ctx, m.InstanceUUID)
		if errors.Is(err, compute.ErrNotFound) {
			in = &compute.Instance{UUID: m.InstanceUUID}
		} else if err != nil {
			s.log.Warn("conductor: recover: reading instance", "instance", m.InstanceUUID, "err", err)
			continue
		}
		switch {
		case m.MigrationType == compute.MigrationTypeEvacuate && m.Status == compute.MigrationAccepted:
			if in.TaskState != compute.TaskRebuilding {
				continue // an agent has it
			}
			_ = s.failRebuild(ctx, in, compute.RebuildRequest{RequestID: s.requestOf(ctx, in.UUID, compute.ActionEvacuate)}, m, m.DestCompute != "", errInterrupted)
			rep.Evacuations++
		case (m.MigrationType == compute.MigrationTypeResize || m.MigrationType == compute.MigrationTypeMigration) &&
			m.Status == compute.MigrationPreMigrating:
			if in.TaskState != compute.TaskResizePrep && !in.Deleted && in.ProjectID != "" {
				continue // an agent has it
			}
			action := compute.ActionMigrate
			if m.MigrationType == compute.MigrationTypeResize {
				action = compute.ActionResize
			}
			_ = s.rollbackMigration(ctx, in, m, s.requestOf(ctx, in.UUID, action), errInterrupted)
			rep.Migrations++
		}
	}
	prep, err := s.st.Instances().List(ctx, compute.InstanceFilter{
		TaskStates: []compute.TaskState{compute.TaskResizePrep},
	}, compute.ListOptions{})
	if err != nil {
		return rep, fmt.Errorf("conductor: recover: %w", err)
	}
	for _, in := range prep {
		if in.Deleted || in.UpdatedAt.After(cutoff) || withMigration[in.UUID] {
			continue
		}
		// A resize the conductor never started, or whose migration
		// already ended: nothing was moved.
		if _, err := s.st.Instances().Update(ctx, in.UUID, compute.InstanceUpdate{
			ExpectedTaskStates: []compute.TaskState{compute.TaskResizePrep},
			TaskState:          compute.Ptr(compute.TaskNone), ClearResizeFlavors: true,
		}); err == nil {
			rep.Migrations++
		}
	}

	// Unshelves.
	uns, err := s.st.Instances().List(ctx, compute.InstanceFilter{
		VMStates: []compute.VMState{compute.VMShelvedOffloaded}, TaskStates: []compute.TaskState{compute.TaskUnshelving},
	}, compute.ListOptions{})
	if err != nil {
		return rep, fmt.Errorf("conductor: recover: %w", err)
	}
	for _, in := range uns {
		if in.Deleted || in.UpdatedAt.After(cutoff) {
			continue
		}
		_ = s.failUnshelve(ctx, in, compute.UnshelveRequest{RequestID: s.requestOf(ctx, in.UUID, compute.ActionUnshelve)}, errInterrupted)
		rep.Unshelves++
	}
	return rep, nil
}

// requestOf returns the request id of the instance's newest action of
// the kind, or "" (events are then not recorded).
func (s *Service) requestOf(ctx context.Context, instanceUUID string, action compute.Action) string {
	acts, err := s.st.InstanceActions().List(ctx, instanceUUID, store.ActionFilter{}, compute.ListOptions{})
	if err != nil {
		return ""
	}
	for _, a := range acts {
		if a.Action == action.RecordName() {
			return a.RequestID
		}
	}
	return ""
}

// RunRecovery runs Recover at once and then every interval (StuckAfter
// when interval ≤ 0) until ctx ends, logging what each pass did; it
// returns nil when ctx ends. It is what a conductor daemon runs beside
// its RPC server (Nova has no such pass; its operators reset states by
// hand).
func (s *Service) RunRecovery(ctx context.Context, interval time.Duration) error {
	if interval <= 0 {
		interval = max(s.cfg.StuckAfter, time.Minute)
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		rep, err := s.Recover(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			s.log.Warn("conductor: recovery pass failed", "err", err)
		case rep != RecoveryReport{}:
			s.log.Info("conductor: recovered abandoned flows", "builds", rep.Builds, "migrations", rep.Migrations,
				"evacuations", rep.Evacuations, "unshelves", rep.Unshelves)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
