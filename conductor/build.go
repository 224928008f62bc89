package conductor

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/novakit/novakit/compute"
)

// buildExpectedTasks are the task states in which the conductor (and not
// yet an agent) owns a building instance.
var buildExpectedTasks = []compute.TaskState{compute.TaskScheduling, compute.TaskNone}

func validateBuild(req *compute.BuildRequest) error {
	switch {
	case req == nil:
		return compute.InvalidInput("build_request", "is required")
	case req.RequestID == "":
		return compute.InvalidInput("request_id", "is required")
	case len(req.InstanceUUIDs) == 0:
		return compute.InvalidInput("instance_uuids", "must name at least one instance")
	case req.Spec == nil:
		return compute.InvalidInput("request_spec", "is required")
	}
	return nil
}

// ScheduleAndBuildInstances schedules the instances of one create request
// and casts each build to its host (Nova's schedule_and_build_instances).
// In-process it runs the whole scheduling before it returns; the queue
// client casts it.
//
// Only instances still building, in task_state scheduling and without a
// host are scheduled, so a redelivered request does nothing for the
// instances already handed to an agent, and instances deleted meanwhile
// are skipped. Allocations left by an earlier interrupted attempt are
// released before the scheduler claims again. When the scheduler finds
// no host (or fails for good), every instance goes to ERROR with a fault
// "No valid host was found. …" and its create action's conductor event
// fails. For each placed instance the conductor stores its request spec
// (with the attempt recorded in Retry), sets host and node (task_state
// stays scheduling, as Nova leaves it), and casts BuildAndRunInstance to
// the chosen host with the alternates; a cast that cannot be sent is
// treated as a failed build and rescheduled.
//
// It returns an error only for a malformed request or when the store
// cannot be read; the outcome of the flow is in the instances' states.
func (s *Service) ScheduleAndBuildInstances(ctx context.Context, req *compute.BuildRequest) error {
	if err := validateBuild(req); err != nil {
		return err
	}
	var found []*compute.Instance
	if len(req.InstanceUUIDs) == 1 {
		// One instance (the common case): a point read is a third of a
		// filtered listing's cost.
		in, err := s.st.Instances().Get(ctx, req.InstanceUUIDs[0])
		switch {
		case err == nil:
			found = []*compute.Instance{in}
		case !errors.Is(err, compute.ErrNotFound):
			return fmt.Errorf("conductor: schedule_and_build_instances: %w", err)
		}
	} else {
		var err error
		found, err = s.st.Instances().List(ctx, compute.InstanceFilter{UUIDs: req.InstanceUUIDs}, compute.ListOptions{})
		if err != nil {
			return fmt.Errorf("conductor: schedule_and_build_instances: %w", err)
		}
	}
	byUUID := make(map[string]*compute.Instance, len(found))
	for _, in := range found {
		byUUID[in.UUID] = in
	}
	var todo []*compute.Instance
	for _, id := range req.InstanceUUIDs {
		in := byUUID[id]
		if in == nil {
			// Deleted before it was scheduled: nothing to build; drop
			// anything an earlier attempt claimed.
			if err := s.release(ctx, id); err != nil {
				s.log.Warn("conductor: releasing allocations of a deleted instance", "instance", id, "err", err)
			}
			continue
		}
		if in.VMState != compute.VMBuilding || in.TaskState != compute.TaskScheduling || in.Host != "" {
			continue // already handed to an agent, or finished
		}
		todo = append(todo, in)
	}
	if len(todo) == 0 {
		return nil
	}
	uuids := make([]string, len(todo))
	for i, in := range todo {
		uuids[i] = in.UUID
		s.startEvent(ctx, in, req.RequestID, string(compute.ActionCreate), EventScheduleAndBuild)
		if err := s.releaseHeld(ctx, in.UUID); err != nil {
			return err
		}
	}
	spec := *req.Spec
	spec.NumInstances = len(uuids)
	spec.Retry = nil
	if spec.InstanceUUID == "" {
		spec.InstanceUUID = uuids[0]
	}
	sels, err := s.sched.SelectDestinations(ctx, &spec, uuids)
	if err == nil && len(sels) != len(uuids) {
		err = fmt.Errorf("conductor: scheduler returned %d selection lists for %d instances", len(sels), len(uuids))
	}
	if err == nil {
		for i := range sels {
			if len(sels[i]) == 0 {
				err = fmt.Errorf("%w: scheduler returned no host for instance %s", compute.ErrNoValidHost, uuids[i])
			}
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			// Shutting down: nothing was decided; Recover or a
			// redelivery picks the instances up.
			return fmt.Errorf("conductor: schedule_and_build_instances: %w", err)
		}
		msg := noValidHostMessage(err)
		if !errors.Is(err, compute.ErrNoValidHost) {
			msg = "Build of instance failed while scheduling: " + err.Error()
		}
		for _, in := range todo {
			// The scheduler may have claimed some instances before
			// failing on others.
			s.bury(ctx, in.UUID, req.RequestID, EventScheduleAndBuild, msg, err)
		}
		return nil
	}
	for i, in := range todo {
		if err := s.trimStaleClaim(ctx, in.UUID, sels[i][0]); err != nil {
			s.log.Warn("conductor: trim a stale claim", "instance", in.UUID, "err", err)
		}
		one := *req
		one.InstanceUUIDs = []string{in.UUID}
		ispec := spec
		ispec.InstanceUUID = in.UUID
		one.Spec = &ispec
		chosen := sels[i][0]
		s.placeAndCast(ctx, in, &one, chosen, sels[i][1:], &compute.RetryInfo{
			NumAttempts: 1, Hosts: [][]string{{chosen.ServiceHost, chosen.Nodename}},
		}, EventScheduleAndBuild)
	}
	return nil
}

// placeAndCast records the attempt on the instance's request spec, puts
// the instance on the chosen host/node (building, scheduling) and casts
// the build there. The chosen allocation is already claimed under the
// instance's uuid. Failures are handled here: a lost swap (the instance
// was deleted or changed meanwhile) releases the claim; a failed cast
// reschedules.
func (s *Service) placeAndCast(ctx context.Context, in *compute.Instance, req *compute.BuildRequest, chosen compute.Selection, alts []compute.Selection, retry *compute.RetryInfo, event string) {
	req.Spec.Retry = retry
	if err := s.st.RequestSpecs().Save(ctx, req.Spec); err != nil {
		s.log.Warn("conductor: saving request spec", "instance", in.UUID, "err", err)
	}
	u := compute.InstanceUpdate{
		ExpectedVMStates:   []compute.VMState{compute.VMBuilding},
		ExpectedTaskStates: buildExpectedTasks,
		TaskState:          compute.Ptr(compute.TaskScheduling),
		Host:               compute.Ptr(chosen.ServiceHost),
		Node:               compute.Ptr(chosen.Nodename),
	}
	if chosen.AvailabilityZone != "" {
		u.AvailabilityZone = compute.Ptr(chosen.AvailabilityZone)
	}
	placed, err := s.st.Instances().Update(ctx, in.UUID, u)
	if err != nil {
		s.log.Info("conductor: instance changed while scheduling; dropping its claim", "instance", in.UUID, "err", err)
		if rerr := s.release(ctx, in.UUID); rerr != nil {
			s.log.Warn("conductor: releasing claim", "instance", in.UUID, "err", rerr)
		}
		s.finishEvent(ctx, in.UUID, req.RequestID, event, err)
		return
	}
	if err := s.agents.BuildAndRunInstance(ctx, chosen.ServiceHost, placed, req, chosen, alts); err != nil {
		s.log.Warn("conductor: build cast failed; rescheduling", "instance", in.UUID, "host", chosen.ServiceHost, "err", err)
		s.finishEvent(ctx, in.UUID, req.RequestID, event, err)
		s.reschedule(ctx, placed, rescheduleFrom(req, in.UUID, chosen, alts, err.Error()))
		return
	}
	s.finishEvent(ctx, in.UUID, req.RequestID, event, nil)
}

func rescheduleFrom(req *compute.BuildRequest, uuid string, failed compute.Selection, alts []compute.Selection, reason string) *compute.RescheduleRequest {
	return &compute.RescheduleRequest{
		RequestID: req.RequestID, InstanceUUID: uuid, Spec: req.Spec, Alternates: alts,
		FailedHost: failed.ServiceHost, FailedNode: failed.Nodename, Reason: reason,
		AdminPassword: req.AdminPassword, InjectedFiles: req.InjectedFiles, Networks: req.Networks,
		BlockDevices: req.BlockDevices[uuid], Tags: req.Tags,
	}
}

// bury puts a building instance in ERROR with a fault, fails the
// conductor's event and releases its allocations (Nova's bury in cell0
// and MaxRetriesExceeded). Only an instance still building and owned by
// the conductor (task scheduling or None) is buried; otherwise someone
// else moved it on and bury does nothing but release nothing either.
//
// The instance loses its host and node too (it was never built), which
// marks an ERROR instance whose allocations must go: should the release
// not happen (the process dies in between), Recover's sweep of ERROR
// instances without a host finishes it.
func (s *Service) bury(ctx context.Context, uuid, requestID, event, message string, cause error) {
	// Once the swap is done the rest must happen even if ctx ends.
	_, err := s.st.Instances().Update(ctx, uuid, compute.InstanceUpdate{
		ExpectedVMStates:   []compute.VMState{compute.VMBuilding},
		ExpectedTaskStates: buildExpectedTasks,
		VMState:            compute.Ptr(compute.VMError),
		TaskState:          compute.Ptr(compute.TaskNone),
		Host:               compute.Ptr(""),
		Node:               compute.Ptr(""),
	})
	ctx = context.WithoutCancel(ctx)
	switch {
	case errors.Is(err, compute.ErrNotFound):
		// Deleted: its allocations must go all the same.
	case err != nil:
		s.log.Info("conductor: not burying an instance that moved on", "instance", uuid, "err", err)
		return
	default:
		s.addFault(ctx, uuid, "", message, cause)
	}
	s.finishEvent(ctx, uuid, requestID, event, errors.New(message))
	if err := s.release(ctx, uuid); err != nil {
		s.log.Warn("conductor: releasing allocations of a buried instance", "instance", uuid, "err", err)
	}
}

// RescheduleInstance takes a build that failed on one host back (Nova's
// build_instances with host_lists): it claims the next alternate's
// allocation request for the instance (an alternate whose claim fails is
// skipped) and casts the build there, recording the attempt in the
// stored request spec. With no alternate left, or MaxAttempts reached,
// the instance goes to ERROR with a fault "Exceeded maximum number of
// retries. …" and its allocations are released.
//
// Idempotent: a request for an instance that is no longer building, or
// that already sits on another host than FailedHost (a redelivered
// reschedule that was done), does nothing. In-process it runs the whole
// reschedule before returning; the queue client casts it.
func (s *Service) RescheduleInstance(ctx context.Context, r *compute.RescheduleRequest) error {
	switch {
	case r == nil:
		return compute.InvalidInput("reschedule_request", "is required")
	case r.InstanceUUID == "":
		return compute.InvalidInput("instance_uuid", "is required")
	case r.RequestID == "":
		return compute.InvalidInput("request_id", "is required")
	}
	in, err := s.st.Instances().Get(ctx, r.InstanceUUID)
	if errors.Is(err, compute.ErrNotFound) {
		return s.release(ctx, r.InstanceUUID)
	}
	if err != nil {
		return fmt.Errorf("conductor: build_instances: %w", err)
	}
	if in.VMState != compute.VMBuilding || !slices.Contains(buildExpectedTasks, in.TaskState) ||
		(in.Host != "" && in.Host != r.FailedHost) {
		return nil
	}
	s.reschedule(ctx, in, r)
	return nil
}

func (s *Service) reschedule(ctx context.Context, in *compute.Instance, r *compute.RescheduleRequest) {
	s.startEvent(ctx, in, r.RequestID, string(compute.ActionCreate), EventBuildInstances)
	if err := s.release(ctx, in.UUID); err != nil {
		s.log.Warn("conductor: releasing the failed host's claim", "instance", in.UUID, "err", err)
	}
	spec := r.Spec
	if spec == nil {
		stored, err := s.st.RequestSpecs().Get(ctx, in.UUID)
		if err != nil {
			s.bury(ctx, in.UUID, r.RequestID, EventBuildInstances, "Build of instance failed: no request spec to reschedule with", err)
			return
		}
		spec = stored
	}
	spec = cloneSpec(spec)
	spec.InstanceUUID = in.UUID
	spec.NumInstances = 1
	// Attempts are counted as the distinct hosts tried: those the
	// request's spec lists, those the stored spec lists (the conductor
	// records every placement there, so a replayed request cannot reset
	// the count) and the host that just failed. Counting hosts rather than
	// trusting NumAttempts makes the count independent of whether the
	// agent bumped it already (Nova bumps it before each attempt).
	retry := &compute.RetryInfo{}
	add := func(hosts [][]string) {
		for _, h := range hosts {
			if len(h) > 0 && h[0] != "" && !containsHost(retry.Hosts, h) {
				retry.Hosts = append(retry.Hosts, h)
			}
		}
	}
	if spec.Retry != nil {
		add(spec.Retry.Hosts)
	}
	if stored, err := s.st.RequestSpecs().Get(ctx, in.UUID); err == nil && stored.Retry != nil {
		add(stored.Retry.Hosts)
	}
	add([][]string{{r.FailedHost, r.FailedNode}})
	retry.NumAttempts = len(retry.Hosts)
	var claimErrs []error
	for i, alt := range r.Alternates {
		if retry.NumAttempts >= s.cfg.MaxAttempts {
			break
		}
		if containsHost(retry.Hosts, []string{alt.ServiceHost, alt.Nodename}) {
			continue
		}
		if err := s.claim(ctx, in.UUID, in.ProjectID, in.UserID, alt); err != nil {
			claimErrs = append(claimErrs, fmt.Errorf("%s: %w", alt.ServiceHost, err))
			continue
		}
		next := &compute.RetryInfo{NumAttempts: retry.NumAttempts + 1, Hosts: append(slices.Clone(retry.Hosts), []string{alt.ServiceHost, alt.Nodename})}
		req := &compute.BuildRequest{
			RequestID: r.RequestID, InstanceUUIDs: []string{in.UUID}, Spec: spec,
			AdminPassword: r.AdminPassword, InjectedFiles: r.InjectedFiles, Networks: r.Networks,
			Tags: r.Tags,
		}
		if r.BlockDevices != nil {
			req.BlockDevices = map[string][]compute.BlockDeviceMapping{in.UUID: r.BlockDevices}
		}
		s.placeAndCast(ctx, in, req, alt, r.Alternates[i+1:], next, EventBuildInstances)
		return
	}
	reason := r.Reason
	if len(claimErrs) > 0 {
		reason += "; alternates could not be claimed: " + errors.Join(claimErrs...).Error()
	}
	s.bury(ctx, in.UUID, r.RequestID, EventBuildInstances,
		"Exceeded maximum number of retries. Exhausted all hosts available for retrying build failures for instance "+in.UUID+".",
		errors.New(reason))
}

// containsHost reports whether the [host, node] pair h was tried; pairs
// compare by host, as a failed node's agent may not name its node.
func containsHost(hosts [][]string, h []string) bool {
	for _, x := range hosts {
		if len(x) > 0 && len(h) > 0 && x[0] == h[0] {
			return true
		}
	}
	return false
}

// cloneSpec copies the parts of a spec the conductor changes.
func cloneSpec(in *compute.RequestSpec) *compute.RequestSpec {
	out := *in
	out.IgnoreHosts = slices.Clone(in.IgnoreHosts)
	if in.RequestedDestination != nil {
		d := *in.RequestedDestination
		out.RequestedDestination = &d
	}
	if in.Retry != nil {
		r := *in.Retry
		r.Hosts = slices.Clone(in.Retry.Hosts)
		out.Retry = &r
	}
	return &out
}
