package agent

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"

	"github.com/novakit/novakit/compute"
)

var buildTasks = []compute.TaskState{
	compute.TaskScheduling, compute.TaskNone, compute.TaskNetworking,
	compute.TaskBlockDeviceMapping, compute.TaskSpawning,
}

// reschedulable reports whether a spawn failure sends the build to
// another host (Nova's RescheduledException) rather than aborting it
// (BuildAbortException: bad image, bad input, unsupported request).
func reschedulable(err error) bool {
	switch compute.Classify(err) {
	case compute.ClassInvalidInput, compute.ClassUnsupported, compute.ClassCanceled, compute.ClassNotFound:
		return false
	}
	return true
}

// buildAndRun is Nova's build_and_run_instance: bounded by
// MaxConcurrentBuilds, it moves the instance through block_device_mapping
// and spawning to active. A reschedulable driver failure hands the build
// back to the conductor with the alternates; any other failure puts the
// instance in ERROR with a fault and releases its allocations.
func (a *Agent) buildAndRun(ctx context.Context, args Args) error {
	if args.Build == nil || args.Instance == nil {
		return compute.InvalidInput("build", "build_and_run_instance needs the instance and the build request")
	}
	ctx, cancel := a.opCtx(ctx)
	defer cancel()
	select {
	case a.builds <- struct{}{}:
		defer func() { <-a.builds }()
	case <-ctx.Done():
		return ctx.Err()
	}
	reqID := args.Build.RequestID
	return a.do(ctx, op{method: MethodBuildAndRun, inst: args.Instance, requestID: reqID, tasks: buildTasks, onFail: failNone,
		pre: func(inst *compute.Instance) error {
			if inst.VMState != compute.VMBuilding {
				// A repeated message: the build already ended.
				return &compute.StateConflictError{InstanceUUID: inst.UUID, ExpectedVM: []compute.VMState{compute.VMBuilding}, ActualVM: inst.VMState, ActualTask: inst.TaskState}
			}
			return expect(inst, compute.TaskScheduling, compute.TaskNone)
		},
		fn: func(ctx context.Context, inst *compute.Instance) error {
			return a.build(ctx, inst, reqID, &args)
		}})
}

func (a *Agent) build(ctx context.Context, inst *compute.Instance, reqID string, args *Args) error {
	node := a.nodeName()
	if args.Chosen != nil && args.Chosen.Nodename != "" {
		node = args.Chosen.Nodename
	}
	// The resource claim was made in placement by the scheduler; this is
	// Nova's instance_claim, which leaves the instance on this host.
	var err error
	inst, err = a.o.Conductor.UpdateInstance(ctx, inst.UUID, compute.InstanceUpdate{
		ExpectedVMStates:   []compute.VMState{compute.VMBuilding},
		ExpectedTaskStates: []compute.TaskState{compute.TaskScheduling, compute.TaskNone},
		TaskState:          compute.Ptr(compute.TaskBlockDeviceMapping),
		Host:               compute.Ptr(a.o.Host),
		Node:               compute.Ptr(node),
	})
	if err != nil {
		return err
	}
	spec, err := a.spawnSpec(ctx, inst, args)
	if err == nil {
		inst, err = a.o.Conductor.UpdateInstance(ctx, inst.UUID, compute.InstanceUpdate{
			ExpectedTaskStates: []compute.TaskState{compute.TaskBlockDeviceMapping},
			TaskState:          compute.Ptr(compute.TaskSpawning),
		})
		if err != nil {
			return err
		}
		spec.Instance = inst
		var h compute.Handle
		h, err = a.o.Driver.Spawn(ctx, spec)
		if err == nil {
			g := compute.Guest{UUID: inst.UUID, Handle: h}
			_, err = a.o.Conductor.UpdateInstance(ctx, inst.UUID, compute.InstanceUpdate{
				ExpectedTaskStates: []compute.TaskState{compute.TaskSpawning},
				VMState:            compute.Ptr(compute.VMActive),
				TaskState:          compute.Ptr(compute.TaskNone),
				PowerState:         compute.Ptr(a.powerState(ctx, g)),
				DriverHandle:       h.Encode(),
				LaunchedAt:         compute.Ptr(a.o.Now().UTC()),
				Tags:               args.Build.Tags,
			})
			if err == nil {
				a.buildResult(true)
				return nil
			}
			if isStateConflict(err) {
				// Deleted while spawning: the terminate waiting on the
				// instance lock removes the guest.
				return err
			}
		}
	}
	if ctx.Err() != nil {
		return err // the agent is stopping; initHost cleans up
	}
	a.buildResult(false)
	// Undo what the spawn may have left.
	if derr := compute.IgnoreNotFound(a.o.Driver.Destroy(ctx, compute.GuestOf(inst), compute.DestroyOptions{})); derr != nil {
		a.log.Warn("agent: destroy after failed build", "instance", inst.UUID, "err", derr)
	}
	if reschedulable(err) {
		if rerr := a.reschedule(ctx, inst, reqID, args, err); rerr == nil {
			return &handled{err}
		} else {
			a.log.Warn("agent: reschedule failed", "instance", inst.UUID, "err", rerr)
		}
	}
	// BuildAbortException: ERROR with a fault, allocations released.
	a.fault(ctx, inst.UUID, err)
	a.setError(ctx, inst.UUID, buildTasks)
	if derr := a.deleteAllocations(ctx, inst.UUID); derr != nil {
		a.log.Warn("agent: release allocations after failed build", "instance", inst.UUID, "err", derr)
	}
	return &handled{err}
}

// reschedule hands the build back to the conductor: task_state
// scheduling, no host, this host's allocation released, the host added
// to the spec's retry list.
func (a *Agent) reschedule(ctx context.Context, inst *compute.Instance, reqID string, args *Args, cause error) error {
	if err := a.deleteAllocations(ctx, inst.UUID); err != nil {
		return err
	}
	if _, err := a.o.Conductor.UpdateInstance(ctx, inst.UUID, compute.InstanceUpdate{
		ExpectedTaskStates: buildTasks,
		TaskState:          compute.Ptr(compute.TaskScheduling),
		Host:               compute.Ptr(""),
		Node:               compute.Ptr(""),
	}); err != nil {
		return err
	}
	var spec *compute.RequestSpec
	if args.Build.Spec != nil {
		s := *args.Build.Spec
		spec = &s
	} else if s, err := a.o.Conductor.GetRequestSpec(ctx, inst.UUID); err == nil {
		spec = s
	} else {
		spec = &compute.RequestSpec{InstanceUUID: inst.UUID, ProjectID: inst.ProjectID, UserID: inst.UserID, Flavor: inst.Flavor, NumInstances: 1}
	}
	spec.InstanceUUID = inst.UUID
	spec.NumInstances = 1
	retry := compute.RetryInfo{}
	if spec.Retry != nil {
		retry.NumAttempts = spec.Retry.NumAttempts
		retry.Hosts = slices.Clone(spec.Retry.Hosts)
	}
	if retry.NumAttempts == 0 {
		retry.NumAttempts = 1
	}
	retry.NumAttempts++
	retry.Hosts = append(retry.Hosts, []string{a.o.Host, inst.Node})
	spec.Retry = &retry
	return a.o.Conductor.RescheduleInstance(ctx, &RescheduleRequest{
		RequestID: reqID, InstanceUUID: inst.UUID, Spec: spec, Alternates: args.Alternates,
		FailedHost: a.o.Host, FailedNode: inst.Node, Reason: cause.Error(),
		AdminPassword: args.Build.AdminPassword, InjectedFiles: args.Build.InjectedFiles,
		Networks: args.Build.Networks, BlockDevices: args.Build.BlockDevices[inst.UUID], Tags: args.Build.Tags,
	})
}

// buildResult keeps Nova's failed_builds count: consecutive failures,
// reset by a success; the node's stats carry it to the scheduler.
func (a *Agent) buildResult(ok bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if ok {
		a.failedBuild = 0
	} else {
		a.failedBuild++
	}
}

// spawnSpec assembles what the driver needs to create the guest.
func (a *Agent) spawnSpec(ctx context.Context, inst *compute.Instance, args *Args) (*compute.SpawnSpec, error) {
	spec := &compute.SpawnSpec{Instance: inst, Flavor: inst.Flavor, KeyData: inst.KeyData, PowerOn: true}
	if args.Build != nil {
		spec.AdminPassword = args.Build.AdminPassword
		spec.InjectedFiles = args.Build.InjectedFiles
		spec.BlockDevices = args.Build.BlockDevices[inst.UUID]
		for i, n := range args.Build.Networks {
			if n.None || n.Auto {
				continue
			}
			port := n.PortID
			if port == "" {
				port = fmt.Sprintf("%s-%d", inst.UUID, i)
			}
			nic := compute.NetworkInterface{PortID: port, NetworkID: n.NetworkID, Tag: n.Tag}
			if n.FixedIP != "" {
				nic.FixedIPs = []string{n.FixedIP}
			}
			spec.Networks = append(spec.Networks, nic)
		}
		if args.Build.Spec != nil {
			spec.Image = args.Build.Spec.Image
		}
	}
	if spec.BlockDevices == nil {
		bdms, err := a.o.Conductor.BlockDeviceMappings(ctx, inst.UUID)
		if err != nil && !errors.Is(err, compute.ErrNotFound) {
			return nil, fmt.Errorf("block device mappings: %w", err)
		}
		spec.BlockDevices = bdms
	}
	if inst.ImageRef != "" && spec.Image.ID != inst.ImageRef {
		img, err := a.imageMeta(ctx, inst.ImageRef)
		if err != nil {
			return nil, err
		}
		spec.Image = img
	}
	if inst.UserData != "" {
		ud, err := base64.StdEncoding.DecodeString(inst.UserData)
		if err != nil {
			return nil, compute.InvalidInput("user_data", "not base64: %v", err)
		}
		spec.UserData = ud
	}
	return spec, nil
}

// imageMeta reads an image's metadata; without an image service it
// knows the id only.
func (a *Agent) imageMeta(ctx context.Context, id string) (compute.ImageMeta, error) {
	if a.o.Images == nil || id == "" {
		return compute.ImageMeta{ID: id}, nil
	}
	m, err := a.o.Images.ImageMeta(ctx, id)
	if err != nil {
		return compute.ImageMeta{}, fmt.Errorf("image %s: %w", id, err)
	}
	return m, nil
}

func (a *Agent) nodeName() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.node != nil {
		return a.node.HypervisorHostname
	}
	return a.o.Host
}
