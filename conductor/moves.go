package conductor

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/placement"
	"github.com/novakit/novakit/store"
)

// migrationNamespace derives migration uuids from request ids, so that a
// repeated request finds the migration record of the first one.
var migrationNamespace = uuid.MustParse("5b0e8f0c-4c4e-5b8a-9d0f-6e6f76616b69")

// MigrationUUID returns the uuid of the migration record the conductor
// creates for the request (a name-based uuid of the instance and request
// id), or a random one when requestID is empty.
func MigrationUUID(instanceUUID, requestID string) string {
	if requestID == "" {
		return uuid.NewString()
	}
	return uuid.NewSHA1(migrationNamespace, []byte(instanceUUID+" "+requestID)).String()
}

// specFor returns a copy of the instance's stored request spec, or one
// made from the instance when none is stored.
func (s *Service) specFor(ctx context.Context, in *compute.Instance) (*compute.RequestSpec, error) {
	spec, err := s.st.RequestSpecs().Get(ctx, in.UUID)
	switch {
	case err == nil:
		spec = cloneSpec(spec)
	case errors.Is(err, compute.ErrNotFound):
		spec = &compute.RequestSpec{
			InstanceUUID: in.UUID, ProjectID: in.ProjectID, UserID: in.UserID, Flavor: in.Flavor,
			Image: compute.ImageMeta{ID: in.ImageRef}, AvailabilityZone: in.AvailabilityZone,
		}
	default:
		return nil, fmt.Errorf("conductor: request spec of %s: %w", in.UUID, err)
	}
	spec.InstanceUUID = in.UUID
	spec.NumInstances = 1
	spec.Retry = nil
	spec.ForceHosts, spec.ForceNodes = nil, nil
	spec.RequestedDestination = nil
	return spec, nil
}

// getOrCreateMigration returns the migration with m.UUID, creating it
// when it does not exist (idempotent by the uuid).
func (s *Service) getOrCreateMigration(ctx context.Context, m *compute.Migration) (*compute.Migration, error) {
	got, err := s.st.Migrations().Get(ctx, m.UUID)
	if err == nil {
		return got, nil
	}
	if !errors.Is(err, compute.ErrNotFound) {
		return nil, err
	}
	got, err = s.st.Migrations().Create(ctx, m)
	if errors.Is(err, compute.ErrConflict) {
		return s.st.Migrations().Get(ctx, m.UUID)
	}
	return got, err
}

// MigrateServer resizes (req.NewFlavor set) or cold migrates an instance
// (Nova's migrate_server with live=False): it creates the migration
// record (status pre-migrating, keyed by the request id), moves the
// instance's allocations to the migration's consumer, asks the scheduler
// for a destination with the new flavor (claimed under the instance's
// consumer), records the destination on the migration and the flavors on
// the instance, and casts PrepResize to the destination. The agents take
// it from there (migrating → post-migrating → finished; confirm or
// revert from the API).
//
// The instance must be in task_state resize_prep (the API's doing). When
// no host is found, or the cast cannot be sent, everything is rolled
// back (allocations moved back, migration error, task_state None, a
// fault) and the error is returned; NoValidHost satisfies
// errors.Is(err, compute.ErrNoValidHost). A repeated request whose
// migration is already past pre-migrating, or already has a
// destination, does nothing.
func (s *Service) MigrateServer(ctx context.Context, inst *compute.Instance, req compute.MigrateRequest) error {
	if inst == nil || inst.UUID == "" {
		return compute.InvalidInput("instance", "is required")
	}
	cur, err := s.st.Instances().Get(ctx, inst.UUID)
	if err != nil {
		return fmt.Errorf("conductor: migrate_server: %w", err)
	}
	migID := MigrationUUID(cur.UUID, req.RequestID)
	if m, err := s.st.Migrations().Get(ctx, migID); err == nil &&
		(m.Status != compute.MigrationPreMigrating || m.DestCompute != "") {
		return nil
	}
	action := compute.ActionMigrate
	if req.IsResize() {
		action = compute.ActionResize
	}
	if cur.TaskState != compute.TaskResizePrep {
		return &compute.InvalidStateError{InstanceUUID: cur.UUID, Action: action, Attr: "task_state", State: string(cur.TaskState)}
	}
	if cur.Host == "" {
		return &compute.InvalidStateError{InstanceUUID: cur.UUID, Action: action, Attr: "host", State: "None"}
	}
	s.startEvent(ctx, cur, req.RequestID, string(action), EventMigrateServer)
	newFlavor := cur.Flavor
	if req.NewFlavor != nil {
		newFlavor = *req.NewFlavor
	}
	mig, err := s.getOrCreateMigration(ctx, &compute.Migration{
		UUID: migID, InstanceUUID: cur.UUID, MigrationType: req.MigrationType(),
		Status: compute.MigrationPreMigrating, SourceCompute: cur.Host, SourceNode: cur.Node,
		OldFlavorID: cur.Flavor.FlavorID, NewFlavorID: newFlavor.FlavorID,
		UserID: cur.UserID, ProjectID: cur.ProjectID,
	})
	if err != nil {
		s.finishEvent(ctx, cur.UUID, req.RequestID, EventMigrateServer, err)
		return fmt.Errorf("conductor: migrate_server: migration record: %w", err)
	}
	if err := s.moveToMigration(ctx, cur.UUID, mig.UUID); err != nil {
		return s.rollbackMigration(ctx, cur, mig, req.RequestID, err)
	}
	if err := s.dropStaleClaim(ctx, cur.UUID, mig.UUID); err != nil {
		return s.rollbackMigration(ctx, cur, mig, req.RequestID, err)
	}
	spec, err := s.specFor(ctx, cur)
	if err != nil {
		return s.rollbackMigration(ctx, cur, mig, req.RequestID, err)
	}
	spec.Flavor = newFlavor
	if !req.AllowSameHost {
		spec.IgnoreHosts = append(spec.IgnoreHosts, cur.Host)
	}
	if req.Host != "" {
		spec.RequestedDestination = &compute.Destination{Host: req.Host}
	}
	sels, err := s.sched.SelectDestinations(ctx, spec, []string{cur.UUID})
	if err == nil && (len(sels) != 1 || len(sels[0]) == 0) {
		err = fmt.Errorf("%w: scheduler returned no selection", compute.ErrNoValidHost)
	}
	if err != nil {
		return s.rollbackMigration(ctx, cur, mig, req.RequestID, err)
	}
	chosen := sels[0][0]
	mig, err = s.st.Migrations().Update(ctx, mig.UUID, store.MigrationUpdate{
		ExpectedStatuses: []string{compute.MigrationPreMigrating},
		DestCompute:      &chosen.ServiceHost, DestNode: &chosen.Nodename, DestHost: &chosen.ServiceHost,
	})
	if err != nil {
		return s.rollbackMigration(ctx, cur, &compute.Migration{UUID: migID}, req.RequestID, err)
	}
	old := cur.Flavor
	placed, err := s.st.Instances().Update(ctx, cur.UUID, compute.InstanceUpdate{
		ExpectedTaskStates: []compute.TaskState{compute.TaskResizePrep},
		OldFlavor:          &old, NewFlavor: &newFlavor,
	})
	if err != nil {
		return s.rollbackMigration(ctx, cur, mig, req.RequestID, err)
	}
	if err := s.agents.PrepResize(ctx, chosen.ServiceHost, placed, mig, req, spec, chosen, sels[0][1:]); err != nil {
		return s.rollbackMigration(ctx, cur, mig, req.RequestID, fmt.Errorf("prep_resize cast to %s: %w", chosen.ServiceHost, err))
	}
	s.finishEvent(ctx, cur.UUID, req.RequestID, EventMigrateServer, nil)
	return nil
}

// dropStaleClaim releases what the instance's consumer holds while the
// migration's consumer holds the source: moveToMigration empties the
// instance consumer atomically, so anything there is a destination claim
// of an earlier, interrupted attempt of the same request, and the
// scheduler's claim (consumer generation null) would fail on it.
func (s *Service) dropStaleClaim(ctx context.Context, instUUID, migUUID string) error {
	if _, ok, err := s.consumer(ctx, migUUID); err != nil || !ok {
		return err
	}
	if _, ok, err := s.consumer(ctx, instUUID); err != nil || !ok {
		return err
	}
	return s.release(ctx, instUUID)
}

// rollbackMigration undoes a resize or cold migration the conductor
// started and returns cause (wrapped): the instance gets its source
// allocations back (dropping a destination claim), the migration goes to
// error, the instance back to task_state None without resize flavors,
// with a fault. Each step is idempotent, so Recover runs it too.
func (s *Service) rollbackMigration(ctx context.Context, in *compute.Instance, mig *compute.Migration, requestID string, cause error) error {
	if err := s.moveBack(ctx, in.UUID, mig.UUID, false); err != nil {
		s.log.Error("conductor: rolling back a migration's allocations", "instance", in.UUID, "migration", mig.UUID, "err", err)
	}
	status := compute.MigrationError
	if _, err := s.st.Migrations().Update(ctx, mig.UUID, store.MigrationUpdate{
		ExpectedStatuses: []string{compute.MigrationPreMigrating}, Status: &status,
	}); err != nil && !errors.Is(err, compute.ErrNotFound) {
		s.log.Warn("conductor: marking a migration error", "migration", mig.UUID, "err", err)
	}
	_, err := s.st.Instances().Update(ctx, in.UUID, compute.InstanceUpdate{
		ExpectedTaskStates: []compute.TaskState{compute.TaskResizePrep},
		TaskState:          compute.Ptr(compute.TaskNone),
		ClearResizeFlavors: true,
	})
	if err == nil {
		msg := "Migration failed: " + cause.Error()
		if errors.Is(cause, compute.ErrNoValidHost) {
			msg = noValidHostMessage(cause)
		}
		s.addFault(ctx, in.UUID, in.Host, msg, cause)
	}
	s.finishEvent(ctx, in.UUID, requestID, EventMigrateServer, cause)
	return fmt.Errorf("conductor: migrate_server %s: %w", in.UUID, cause)
}

// RebuildInstance rebuilds an instance in place, or evacuates it (Nova's
// rebuild_instance). In place, it casts RebuildInstance to the
// instance's host. For an evacuation it checks that the instance's
// compute service is down (a service that is up refuses, as Nova's
// ComputeServiceInUse), creates the evacuation's migration record
// (status accepted, keyed by the request id), asks the scheduler for
// another host (req.Host if given) while the source's usage is parked on
// the migration's consumer, then gives the instance both allocations
// (source and destination, as Nova leaves an evacuated instance until
// the source host cleans up) and casts RebuildInstance to the new host.
// No host, or a failed cast: the migration goes to error, the instance
// to ERROR with a fault (as Nova's conductor does), its destination
// allocation dropped.
//
// The instance must be in task_state rebuilding (the API's doing);
// otherwise the request was handled already and nothing happens. A cast:
// in-process it runs the scheduling before returning.
func (s *Service) RebuildInstance(ctx context.Context, inst *compute.Instance, req compute.RebuildRequest) error {
	if inst == nil || inst.UUID == "" {
		return compute.InvalidInput("instance", "is required")
	}
	cur, err := s.st.Instances().Get(ctx, inst.UUID)
	if err != nil {
		return fmt.Errorf("conductor: rebuild_instance: %w", err)
	}
	if cur.TaskState != compute.TaskRebuilding {
		return nil
	}
	if !req.Evacuate {
		s.startEvent(ctx, cur, req.RequestID, string(compute.ActionRebuild), EventRebuildServer)
		if err := s.agents.RebuildInstance(ctx, cur.Host, cur, req, nil, nil); err != nil {
			s.failRebuild(ctx, cur, req, nil, false, fmt.Errorf("rebuild cast to %s: %w", cur.Host, err))
			return err
		}
		s.finishEvent(ctx, cur.UUID, req.RequestID, EventRebuildServer, nil)
		return nil
	}
	s.startEvent(ctx, cur, req.RequestID, string(compute.ActionEvacuate), EventRebuildServer)
	migID := MigrationUUID(cur.UUID, req.RequestID)
	if m, err := s.st.Migrations().Get(ctx, migID); err == nil && (m.Status != compute.MigrationAccepted || m.DestCompute != "") {
		return nil
	}
	if svc, err := s.st.Services().GetByHostBinary(ctx, cur.Host, "nova-compute"); err == nil && svc.IsUp(s.cfg.Now(), s.cfg.ServiceDownTime) {
		err := &compute.InvalidStateError{InstanceUUID: cur.UUID, Action: compute.ActionEvacuate, Attr: "host", State: cur.Host + " (compute service is still up)"}
		// Nothing moved yet: give the instance back as it was.
		if _, uerr := s.st.Instances().Update(ctx, cur.UUID, compute.InstanceUpdate{
			ExpectedTaskStates: []compute.TaskState{compute.TaskRebuilding}, TaskState: compute.Ptr(compute.TaskNone),
		}); uerr == nil {
			s.addFault(ctx, cur.UUID, cur.Host, "Compute service of "+cur.Host+" is still in use.", err)
		}
		s.finishEvent(ctx, cur.UUID, req.RequestID, EventRebuildServer, err)
		return err
	}
	mig, err := s.getOrCreateMigration(ctx, &compute.Migration{
		UUID: migID, InstanceUUID: cur.UUID, MigrationType: compute.MigrationTypeEvacuate,
		Status: compute.MigrationAccepted, SourceCompute: cur.Host, SourceNode: cur.Node,
		OldFlavorID: cur.Flavor.FlavorID, NewFlavorID: cur.Flavor.FlavorID,
		UserID: cur.UserID, ProjectID: cur.ProjectID,
	})
	if err != nil {
		s.finishEvent(ctx, cur.UUID, req.RequestID, EventRebuildServer, err)
		return fmt.Errorf("conductor: evacuate: migration record: %w", err)
	}
	if err := s.moveToMigration(ctx, cur.UUID, mig.UUID); err != nil {
		return s.failRebuild(ctx, cur, req, mig, false, err)
	}
	if err := s.dropStaleClaim(ctx, cur.UUID, mig.UUID); err != nil {
		return s.failRebuild(ctx, cur, req, mig, false, err)
	}
	spec, err := s.specFor(ctx, cur)
	if err != nil {
		return s.failRebuild(ctx, cur, req, mig, false, err)
	}
	spec.IgnoreHosts = append(spec.IgnoreHosts, cur.Host)
	if req.Host != "" {
		spec.RequestedDestination = &compute.Destination{Host: req.Host}
	}
	if req.Image != nil {
		spec.Image = *req.Image
	}
	sels, err := s.sched.SelectDestinations(ctx, spec, []string{cur.UUID})
	if err == nil && (len(sels) != 1 || len(sels[0]) == 0) {
		err = fmt.Errorf("%w: scheduler returned no selection", compute.ErrNoValidHost)
	}
	if err != nil {
		return s.failRebuild(ctx, cur, req, mig, false, err)
	}
	chosen := sels[0][0]
	mig, err = s.st.Migrations().Update(ctx, mig.UUID, store.MigrationUpdate{
		ExpectedStatuses: []string{compute.MigrationAccepted},
		DestCompute:      &chosen.ServiceHost, DestNode: &chosen.Nodename, DestHost: &chosen.ServiceHost,
	})
	if err != nil {
		return s.failRebuild(ctx, cur, req, &compute.Migration{UUID: migID}, false, err)
	}
	// The instance now holds source and destination, as in Nova.
	if err := s.moveBack(ctx, cur.UUID, mig.UUID, true); err != nil {
		return s.failRebuild(ctx, cur, req, mig, false, err)
	}
	if err := s.agents.RebuildInstance(ctx, chosen.ServiceHost, cur, req, mig, &chosen); err != nil {
		return s.failRebuild(ctx, cur, req, mig, true, fmt.Errorf("rebuild cast to %s: %w", chosen.ServiceHost, err))
	}
	s.finishEvent(ctx, cur.UUID, req.RequestID, EventRebuildServer, nil)
	return nil
}

// failRebuild ends a rebuild or evacuation the conductor could not hand
// on: allocations back to the source only, migration error, instance
// ERROR (task None) with a fault. merged says the destination's
// allocation was already merged into the instance's consumer and must
// be taken out of it.
func (s *Service) failRebuild(ctx context.Context, in *compute.Instance, req compute.RebuildRequest, mig *compute.Migration, merged bool, cause error) error {
	if mig != nil {
		if merged && mig.DestCompute != "" {
			if err := s.dropNode(ctx, in.UUID, mig.DestCompute, mig.DestNode); err != nil {
				s.log.Error("conductor: dropping an evacuation's destination allocation", "instance", in.UUID, "err", err)
			}
		}
		if err := s.moveBack(ctx, in.UUID, mig.UUID, false); err != nil {
			s.log.Error("conductor: rolling back an evacuation's allocations", "instance", in.UUID, "err", err)
		}
		status := compute.MigrationError
		if _, err := s.st.Migrations().Update(ctx, mig.UUID, store.MigrationUpdate{
			ExpectedStatuses: []string{compute.MigrationAccepted, compute.MigrationPreMigrating}, Status: &status,
		}); err != nil && !errors.Is(err, compute.ErrNotFound) {
			s.log.Warn("conductor: marking a migration error", "migration", mig.UUID, "err", err)
		}
	}
	_, err := s.st.Instances().Update(ctx, in.UUID, compute.InstanceUpdate{
		ExpectedTaskStates: []compute.TaskState{compute.TaskRebuilding},
		VMState:            compute.Ptr(compute.VMError),
		TaskState:          compute.Ptr(compute.TaskNone),
	})
	if err == nil {
		msg := "Rebuild failed: " + cause.Error()
		if errors.Is(cause, compute.ErrNoValidHost) {
			msg = noValidHostMessage(cause)
		}
		s.addFault(ctx, in.UUID, in.Host, msg, cause)
	}
	s.finishEvent(ctx, in.UUID, req.RequestID, EventRebuildServer, cause)
	return fmt.Errorf("conductor: rebuild_instance %s: %w", in.UUID, cause)
}

// dropNode removes the allocations the instance holds on the compute
// node (host, node) from its consumer, keeping the rest (Nova's
// remove_provider_tree_from_instance_allocation).
func (s *Service) dropNode(ctx context.Context, instUUID, host, node string) error {
	cn, err := s.st.ComputeNodes().GetByHostNode(ctx, host, node)
	if err != nil {
		return err
	}
	c, ok, err := s.consumer(ctx, instUUID)
	if err != nil || !ok {
		return err
	}
	allocs := flatten(c)
	if _, ok := allocs[cn.UUID]; !ok {
		return nil
	}
	delete(allocs, cn.UUID)
	gen := c.Generation
	return s.pl.SetAllocations(ctx, map[string]placement.ConsumerAllocations{
		instUUID: {Project: c.Project, User: c.User, Generation: &gen, Allocations: allocs},
	})
}

// UnshelveInstance brings a shelved instance back (Nova's
// unshelve_instance). A shelved instance still on its host is started
// there again (the cast goes to its host); a shelved_offloaded one is
// scheduled again, in req.AvailabilityZone when given (the zone is
// stored on its request spec, and removed with req.UnpinAZ) or on
// req.Host, and the cast goes to the chosen host with the selection
// (claimed under the instance's consumer). No host: task_state goes back
// to None and the instance stays shelved_offloaded, as in Nova.
//
// The instance must be in task_state unshelving (the API's doing);
// otherwise the request was handled already and nothing happens.
func (s *Service) UnshelveInstance(ctx context.Context, inst *compute.Instance, req compute.UnshelveRequest) error {
	if inst == nil || inst.UUID == "" {
		return compute.InvalidInput("instance", "is required")
	}
	cur, err := s.st.Instances().Get(ctx, inst.UUID)
	if err != nil {
		return fmt.Errorf("conductor: unshelve_instance: %w", err)
	}
	if cur.TaskState != compute.TaskUnshelving {
		return nil
	}
	s.startEvent(ctx, cur, req.RequestID, string(compute.ActionUnshelve), EventUnshelve)
	spec, err := s.specFor(ctx, cur)
	if err != nil {
		return s.failUnshelve(ctx, cur, req, err)
	}
	switch cur.VMState {
	case compute.VMShelved:
		if err := s.agents.UnshelveInstance(ctx, cur.Host, cur, req, spec, nil); err != nil {
			return s.failUnshelve(ctx, cur, req, err)
		}
		s.finishEvent(ctx, cur.UUID, req.RequestID, EventUnshelve, nil)
		return nil
	case compute.VMShelvedOffloaded:
	default:
		return s.failUnshelve(ctx, cur, req, &compute.InvalidStateError{InstanceUUID: cur.UUID, Action: compute.ActionUnshelve, Attr: "vm_state", State: string(cur.VMState)})
	}
	// Anything a crashed earlier attempt claimed goes first.
	if err := s.release(ctx, cur.UUID); err != nil {
		return s.failUnshelve(ctx, cur, req, err)
	}
	switch {
	case req.UnpinAZ:
		spec.AvailabilityZone = ""
	case req.AvailabilityZone != "":
		spec.AvailabilityZone = req.AvailabilityZone
	}
	if req.UnpinAZ || req.AvailabilityZone != "" {
		if err := s.st.RequestSpecs().Save(ctx, spec); err != nil {
			return s.failUnshelve(ctx, cur, req, err)
		}
	}
	if req.Host != "" {
		spec.RequestedDestination = &compute.Destination{Host: req.Host}
	}
	sels, err := s.sched.SelectDestinations(ctx, spec, []string{cur.UUID})
	if err == nil && (len(sels) != 1 || len(sels[0]) == 0) {
		err = fmt.Errorf("%w: scheduler returned no selection", compute.ErrNoValidHost)
	}
	if err != nil {
		return s.failUnshelve(ctx, cur, req, err)
	}
	chosen := sels[0][0]
	if err := s.agents.UnshelveInstance(ctx, chosen.ServiceHost, cur, req, spec, &chosen); err != nil {
		return s.failUnshelve(ctx, cur, req, fmt.Errorf("unshelve cast to %s: %w", chosen.ServiceHost, err))
	}
	s.finishEvent(ctx, cur.UUID, req.RequestID, EventUnshelve, nil)
	return nil
}

// failUnshelve puts the instance back to task_state None (still shelved
// or shelved_offloaded) and releases what an offloaded instance claimed.
func (s *Service) failUnshelve(ctx context.Context, in *compute.Instance, req compute.UnshelveRequest, cause error) error {
	_, err := s.st.Instances().Update(ctx, in.UUID, compute.InstanceUpdate{
		ExpectedTaskStates: []compute.TaskState{compute.TaskUnshelving},
		TaskState:          compute.Ptr(compute.TaskNone),
	})
	if err == nil && in.VMState == compute.VMShelvedOffloaded {
		if rerr := s.release(ctx, in.UUID); rerr != nil {
			s.log.Warn("conductor: releasing an unshelve claim", "instance", in.UUID, "err", rerr)
		}
	}
	s.finishEvent(ctx, in.UUID, req.RequestID, EventUnshelve, cause)
	return fmt.Errorf("conductor: unshelve_instance %s: %w", in.UUID, cause)
}
