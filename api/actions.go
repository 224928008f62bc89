package api

import (
	"context"
	"errors"
	"fmt"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/identity"
	"github.com/novakit/novakit/store"
)

// actionCtx is one server action under way: the caller, the instance as
// the task-state compare-and-swap left it and the request id.
type actionCtx struct {
	c    *identity.Credentials
	prev *compute.Instance
	inst *compute.Instance
	rid  string
	act  compute.Action
}

// begin loads the instance, checks policy and the action table, writes
// the rule's task state (compare-and-swap) plus extra, and records the
// instance action. A lost race is a *compute.StateConflictError (409).
func (a *API) begin(ctx context.Context, id, rule string, act compute.Action, extra func(*compute.Instance, *compute.InstanceUpdate) error) (*actionCtx, error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	inst, err := a.GetServer(ctx, id, rule)
	if err != nil {
		return nil, err
	}
	if err := compute.CheckAction(inst, act, compute.CheckOptions{IsAdmin: c.IsAdmin()}); err != nil {
		return nil, err
	}
	r, _ := compute.RuleFor(act)
	u := r.Transition()
	if u.ExpectedVMStates == nil {
		u.ExpectedVMStates = []compute.VMState{inst.VMState}
	}
	if u.ExpectedTaskStates == nil {
		u.ExpectedTaskStates = []compute.TaskState{inst.TaskState}
	}
	if extra != nil {
		if err := extra(inst, &u); err != nil {
			return nil, err
		}
	}
	upd, err := a.st.Instances().Update(ctx, inst.UUID, u)
	if err != nil {
		return nil, err
	}
	rid := requestID(ctx)
	if _, err := a.st.InstanceActions().Start(ctx, &compute.InstanceAction{
		Action: act.RecordName(), InstanceUUID: inst.UUID, RequestID: rid,
		UserID: c.UserID, ProjectID: inst.ProjectID, StartTime: a.now(),
	}); err != nil {
		a.undo(ctx, inst, upd)
		return nil, err
	}
	return &actionCtx{c: c, prev: inst, inst: upd, rid: rid, act: act}, nil
}

// undo puts the task state back after the hand-off failed, if nothing
// changed it since.
func (a *API) undo(ctx context.Context, prev, upd *compute.Instance) {
	if upd.TaskState == prev.TaskState {
		return
	}
	a.rollbackTask(ctx, upd.UUID, upd.TaskState, prev.TaskState)
}

// cast runs a hand-off and undoes the task state if it fails.
func (a *API) cast(ctx context.Context, ac *actionCtx, what string, fn func() error) error {
	if err := fn(); err != nil {
		a.undo(ctx, ac.prev, ac.inst)
		_, _ = a.st.InstanceActions().Finish(context.WithoutCancel(ctx), ac.inst.UUID, ac.rid, "Error")
		return fmt.Errorf("api: %s %s: %w", what, ac.inst.UUID, err)
	}
	return nil
}

func (a *API) needAgent() error {
	if a.agent == nil {
		return fmt.Errorf("api: no compute agent client: %w", compute.ErrUnavailable)
	}
	return nil
}

func (a *API) needConductor() error {
	if a.conductor == nil {
		return fmt.Errorf("api: no conductor client: %w", compute.ErrUnavailable)
	}
	return nil
}

// simple runs an agent cast action.
func (a *API) simple(ctx context.Context, id, rule string, act compute.Action, fn func(context.Context, *compute.Instance) error) error {
	if err := a.needAgent(); err != nil {
		return err
	}
	ac, err := a.begin(ctx, id, rule, act, nil)
	if err != nil {
		return err
	}
	return a.cast(ctx, ac, string(act), func() error { return fn(ctx, ac.inst) })
}

// StopServer powers the server off (os-stop): task powering-off, then the
// agent's stop_instance cast.
func (a *API) StopServer(ctx context.Context, id string) error {
	return a.simple(ctx, id, RuleServersStop, compute.ActionStop, func(ctx context.Context, i *compute.Instance) error {
		return a.agent.StopInstance(ctx, i, true)
	})
}

// StartServer powers the server on (os-start).
func (a *API) StartServer(ctx context.Context, id string) error {
	return a.simple(ctx, id, RuleServersStart, compute.ActionStart, a.agentStart)
}

func (a *API) agentStart(ctx context.Context, i *compute.Instance) error {
	return a.agent.StartInstance(ctx, i)
}

// RebootServer reboots the server, hard or soft.
func (a *API) RebootServer(ctx context.Context, id string, hard bool) error {
	act := compute.ActionReboot
	if hard {
		act = compute.ActionRebootHard
	}
	return a.simple(ctx, id, RuleServersReboot, act, func(ctx context.Context, i *compute.Instance) error {
		return a.agent.RebootInstance(ctx, i, hard)
	})
}

// PauseServer pauses the server.
func (a *API) PauseServer(ctx context.Context, id string) error {
	return a.simple(ctx, id, RulePause, compute.ActionPause, func(ctx context.Context, i *compute.Instance) error {
		return a.agent.PauseInstance(ctx, i)
	})
}

// UnpauseServer unpauses the server.
func (a *API) UnpauseServer(ctx context.Context, id string) error {
	return a.simple(ctx, id, RuleUnpause, compute.ActionUnpause, func(ctx context.Context, i *compute.Instance) error {
		return a.agent.UnpauseInstance(ctx, i)
	})
}

// SuspendServer suspends the server.
func (a *API) SuspendServer(ctx context.Context, id string) error {
	return a.simple(ctx, id, RuleSuspend, compute.ActionSuspend, func(ctx context.Context, i *compute.Instance) error {
		return a.agent.SuspendInstance(ctx, i)
	})
}

// ResumeServer resumes the suspended server.
func (a *API) ResumeServer(ctx context.Context, id string) error {
	return a.simple(ctx, id, RuleResume, compute.ActionResume, func(ctx context.Context, i *compute.Instance) error {
		return a.agent.ResumeInstance(ctx, i)
	})
}

// LockServer locks the server; locked_by is "owner" when the caller is in
// the server's project, else "admin". Locking a locked server is a no-op
// update of the reason.
func (a *API) LockServer(ctx context.Context, id, reason string) error {
	_, err := a.begin(ctx, id, RuleLock, compute.ActionLock, func(inst *compute.Instance, u *compute.InstanceUpdate) error {
		c, _ := identity.FromContext(ctx)
		by := "admin"
		if c.ProjectID == inst.ProjectID {
			by = "owner"
		}
		u.Locked, u.LockedBy, u.LockedReason = compute.Ptr(true), compute.Ptr(by), compute.Ptr(reason)
		return nil
	})
	return err
}

// UnlockServer unlocks the server. A lock an admin set may be undone only
// by a caller passing RuleUnlockOverride.
func (a *API) UnlockServer(ctx context.Context, id string) error {
	_, err := a.begin(ctx, id, RuleUnlock, compute.ActionUnlock, func(inst *compute.Instance, u *compute.InstanceUpdate) error {
		c, _ := identity.FromContext(ctx)
		if inst.Locked && inst.LockedBy == "admin" && c.ProjectID == inst.ProjectID && !c.IsAdmin() {
			if err := a.policy.Authorize(ctx, c, RuleUnlockOverride, Target{ProjectID: inst.ProjectID, UserID: inst.UserID}); err != nil {
				return err
			}
		}
		u.Locked, u.LockedBy, u.LockedReason = compute.Ptr(false), compute.Ptr(""), compute.Ptr("")
		return nil
	})
	return err
}

// ResetState sets vm_state to active or error and clears the task state
// (os-resetState, admin).
func (a *API) ResetState(ctx context.Context, id string, state compute.VMState) error {
	if state != compute.VMActive && state != compute.VMError {
		return compute.InvalidInput("state", "must be active or error")
	}
	_, err := a.begin(ctx, id, RuleResetState, compute.ActionResetState, func(_ *compute.Instance, u *compute.InstanceUpdate) error {
		u.ExpectedVMStates, u.ExpectedTaskStates = nil, nil
		u.VMState, u.TaskState = compute.Ptr(state), compute.Ptr(compute.TaskNone)
		return nil
	})
	return err
}

// ConsoleOutput returns the last lines of the guest's console (all when
// lines < 0).
func (a *API) ConsoleOutput(ctx context.Context, id string, lines int) (string, error) {
	if err := a.needAgent(); err != nil {
		return "", err
	}
	inst, err := a.GetServer(ctx, id, RuleConsoleOutput)
	if err != nil {
		return "", err
	}
	if err := compute.CheckAction(inst, compute.ActionGetConsole, compute.CheckOptions{}); err != nil {
		return "", err
	}
	if inst.VMState != compute.VMActive && inst.VMState != compute.VMStopped && inst.VMState != compute.VMPaused {
		return "", conflict("Instance %s is not ready", inst.UUID)
	}
	return a.agent.GetConsoleOutput(ctx, inst, lines)
}

// ResizeServer resizes the server to flavorRef: quota is checked for the
// growth, task becomes resize_prep and the conductor's migrate_server is
// called. No valid host → 400 (the task state is put back).
func (a *API) ResizeServer(ctx context.Context, id, flavorRef, diskConfig string) error {
	if err := a.needConductor(); err != nil {
		return err
	}
	c, err := caller(ctx)
	if err != nil {
		return err
	}
	fl, err := a.st.Flavors().Get(ctx, idFromRef(flavorRef))
	if errors.Is(err, compute.ErrNotFound) {
		return badRequest("Unable to find flavor %s", flavorRef)
	} else if err != nil {
		return err
	}
	ac, err := a.begin(ctx, id, RuleServersResize, compute.ActionResize, func(inst *compute.Instance, u *compute.InstanceUpdate) error {
		if fl.FlavorID == inst.Flavor.FlavorID {
			return badRequest("When resizing, instances must change flavor!")
		}
		if fl.Disabled {
			return badRequest("Flavor is disabled.")
		}
		if !fl.IsPublic && !c.IsAdmin() {
			return badRequest("Unable to find flavor %s", flavorRef)
		}
		if inst.Flavor.RootGB > 0 && fl.RootGB > 0 && fl.RootGB < inst.Flavor.RootGB {
			return badRequest("Resizing to a smaller disk flavor is not allowed.")
		}
		return a.checkResizeQuota(ctx, inst, fl)
	})
	if err != nil {
		return err
	}
	req := compute.MigrateRequest{RequestID: ac.rid, NewFlavor: fl, CleanShutdown: true, DiskConfig: diskConfig}
	err = a.cast(ctx, ac, "resize", func() error { return a.conductor.MigrateServer(ctx, ac.inst, req) })
	if errors.Is(err, compute.ErrNoValidHost) {
		return badRequest("No valid host was found. %v", err)
	}
	return err
}

func (a *API) checkResizeQuota(ctx context.Context, inst *compute.Instance, fl *compute.Flavor) error {
	dc, dr := fl.VCPUs-inst.Flavor.VCPUs, fl.MemoryMB-inst.Flavor.MemoryMB
	if dc <= 0 && dr <= 0 {
		return nil
	}
	limits, err := a.st.Quotas().Limits(ctx, inst.ProjectID, "")
	if err != nil {
		return err
	}
	used, err := a.instanceUsage(ctx, inst.ProjectID)
	if err != nil {
		return err
	}
	qe := &QuotaError{Requested: map[string]int{compute.QuotaCores: dc, compute.QuotaRAM: dr}, Used: used, Allowed: limits}
	for r, d := range map[string]int{compute.QuotaCores: dc, compute.QuotaRAM: dr} {
		if lim := limits[r]; d > 0 && lim >= 0 && used[r]+d > lim {
			qe.Resources = append(qe.Resources, r)
		}
	}
	if len(qe.Resources) > 0 {
		return qe
	}
	return nil
}

// MigrateServer cold-migrates the server (admin), optionally to host.
func (a *API) MigrateServer(ctx context.Context, id, host string) error {
	if err := a.needConductor(); err != nil {
		return err
	}
	if host != "" {
		if _, err := a.authorize(ctx, RuleMigrateHost, Target{}); err != nil {
			return err
		}
		if _, err := a.st.ComputeNodes().List(ctx, store.ComputeNodeFilter{Host: host}, compute.ListOptions{}); err != nil {
			return err
		}
	}
	ac, err := a.begin(ctx, id, RuleMigrate, compute.ActionMigrate, func(inst *compute.Instance, _ *compute.InstanceUpdate) error {
		if host != "" && host == inst.Host {
			return badRequest("The target host can't be the same one.")
		}
		return nil
	})
	if err != nil {
		return err
	}
	req := compute.MigrateRequest{RequestID: ac.rid, Host: host, CleanShutdown: true}
	err = a.cast(ctx, ac, "migrate", func() error { return a.conductor.MigrateServer(ctx, ac.inst, req) })
	if errors.Is(err, compute.ErrNoValidHost) {
		return badRequest("No valid host was found. %v", err)
	}
	return err
}

// resizeMigration finds the migration of a resize awaiting confirmation.
func (a *API) resizeMigration(ctx context.Context, inst *compute.Instance) (*compute.Migration, error) {
	ms, err := a.st.Migrations().List(ctx, store.MigrationFilter{InstanceUUID: inst.UUID, Status: []string{compute.MigrationFinished}}, compute.ListOptions{})
	if err != nil {
		return nil, err
	}
	if len(ms) == 0 {
		return nil, badRequest("Instance has not been resized.")
	}
	return ms[len(ms)-1], nil
}

// ConfirmResize confirms a finished resize: the migration becomes
// confirming and the source host's agent is told to clean up.
func (a *API) ConfirmResize(ctx context.Context, id string) error {
	if err := a.needAgent(); err != nil {
		return err
	}
	var mig *compute.Migration
	ac, err := a.begin(ctx, id, RuleServersConfirmResize, compute.ActionConfirmResize, func(inst *compute.Instance, _ *compute.InstanceUpdate) error {
		m, err := a.resizeMigration(ctx, inst)
		mig = m
		return err
	})
	if err != nil {
		return err
	}
	mig, err = a.st.Migrations().Update(ctx, mig.UUID, store.MigrationUpdate{
		ExpectedStatuses: []string{compute.MigrationFinished}, Status: compute.Ptr(compute.MigrationConfirming),
	})
	if err != nil {
		return err
	}
	return a.cast(ctx, ac, "confirm resize", func() error { return a.agent.ConfirmResize(ctx, ac.inst, mig) })
}

// RevertResize reverts a finished resize: task resize_reverting, migration
// reverting, and the destination host's agent is told to revert.
func (a *API) RevertResize(ctx context.Context, id string) error {
	if err := a.needAgent(); err != nil {
		return err
	}
	var mig *compute.Migration
	ac, err := a.begin(ctx, id, RuleServersRevertResize, compute.ActionRevertResize, func(inst *compute.Instance, _ *compute.InstanceUpdate) error {
		m, err := a.resizeMigration(ctx, inst)
		mig = m
		return err
	})
	if err != nil {
		return err
	}
	mig, err = a.st.Migrations().Update(ctx, mig.UUID, store.MigrationUpdate{
		ExpectedStatuses: []string{compute.MigrationFinished}, Status: compute.Ptr(compute.MigrationReverting),
	})
	if err != nil {
		a.undo(ctx, ac.prev, ac.inst)
		return err
	}
	return a.cast(ctx, ac, "revert resize", func() error { return a.agent.RevertResize(ctx, ac.inst, mig) })
}

// RebuildRequest is a rebuild action after decoding.
type RebuildRequest struct {
	ImageRef          string
	Name              *string
	Description       *string
	AdminPass         string
	Metadata          map[string]string
	PreserveEphemeral bool
	KeyName           *string // 2.54: "" (null) removes the key
	UserData          *string
	AccessIPv4        *string
	AccessIPv6        *string
	Hostname          *string
}

// RebuildServer rebuilds the server from an image through the conductor
// and returns the instance as the API left it and the admin password.
func (a *API) RebuildServer(ctx context.Context, id string, req RebuildRequest) (*compute.Instance, string, error) {
	if err := a.needConductor(); err != nil {
		return nil, "", err
	}
	c, err := caller(ctx)
	if err != nil {
		return nil, "", err
	}
	imageID := idFromRef(req.ImageRef)
	var img *compute.ImageMeta
	if a.images != nil {
		m, err := a.images.ImageMeta(ctx, imageID)
		if errors.Is(err, compute.ErrNotFound) {
			return nil, "", badRequest("Image %s could not be found.", imageID)
		} else if err != nil {
			return nil, "", err
		}
		img = &m
	}
	var keyData *string
	if req.KeyName != nil && *req.KeyName != "" {
		kp, err := a.st.KeyPairs().Get(ctx, c.UserID, *req.KeyName)
		if errors.Is(err, compute.ErrNotFound) {
			return nil, "", badRequest("Invalid key_name provided.")
		} else if err != nil {
			return nil, "", err
		}
		keyData = &kp.PublicKey
	}
	_ = keyData
	pass := req.AdminPass
	if pass == "" && a.passwords {
		pass = generatePassword(12)
	}
	var orig string
	ac, err := a.begin(ctx, id, RuleServersRebuild, compute.ActionRebuild, func(inst *compute.Instance, u *compute.InstanceUpdate) error {
		orig = inst.ImageRef
		if img != nil && img.MinRAMMB > inst.Flavor.MemoryMB {
			return badRequest("Flavor's memory is too small for requested image.")
		}
		if img != nil && inst.Flavor.RootGB > 0 && img.MinDiskGB > inst.Flavor.RootGB {
			return badRequest("Flavor's disk is too small for requested image.")
		}
		u.ImageRef = &imageID
		u.Name, u.Description, u.Hostname = req.Name, req.Description, req.Hostname
		u.AccessIPv4, u.AccessIPv6 = req.AccessIPv4, req.AccessIPv6
		if req.Metadata != nil {
			u.Metadata = req.Metadata
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	rr := compute.RebuildRequest{RequestID: ac.rid, ImageRef: imageID, OrigImageRef: orig, AdminPassword: pass, PreserveEphemeral: req.PreserveEphemeral}
	if img != nil && imageID != orig {
		rr.Image = img
	}
	err = a.cast(ctx, ac, "rebuild", func() error { return a.conductor.RebuildInstance(ctx, ac.inst, rr) })
	if err != nil {
		return nil, "", err
	}
	return ac.inst, pass, nil
}

// EvacuateServer rebuilds the server on another host because its host is
// down (admin). The source compute service must be down (409 otherwise).
func (a *API) EvacuateServer(ctx context.Context, id, host, adminPass string, onShared *bool, target compute.VMState) (string, error) {
	if err := a.needConductor(); err != nil {
		return "", err
	}
	if host != "" {
		nodes, err := a.st.ComputeNodes().List(ctx, store.ComputeNodeFilter{Host: host}, compute.ListOptions{})
		if err != nil {
			return "", err
		}
		if len(nodes) == 0 {
			return "", compute.NotFound("Compute host", host)
		}
	}
	pass := adminPass
	if pass == "" && a.passwords {
		pass = generatePassword(12)
	}
	ac, err := a.begin(ctx, id, RuleEvacuate, compute.ActionEvacuate, func(inst *compute.Instance, _ *compute.InstanceUpdate) error {
		if host != "" && host == inst.Host {
			return badRequest("The target host can't be the same one.")
		}
		svc, err := a.st.Services().GetByHostBinary(ctx, inst.Host, "nova-compute")
		if err == nil && a.ServiceIsUp(svc) {
			return conflict("Compute service of %s is still in use.", inst.Host)
		}
		if err != nil && !errors.Is(err, compute.ErrNotFound) {
			return err
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	rr := compute.RebuildRequest{
		RequestID: ac.rid, ImageRef: ac.inst.ImageRef, OrigImageRef: ac.inst.ImageRef, AdminPassword: pass,
		Evacuate: true, Host: host, OnSharedStorage: onShared, TargetState: target,
	}
	if err := a.cast(ctx, ac, "evacuate", func() error { return a.conductor.RebuildInstance(ctx, ac.inst, rr) }); err != nil {
		return "", err
	}
	return pass, nil
}

// ShelveServer shelves the server: a snapshot image record is created
// (not for volume-backed servers) and the agent's shelve cast sent.
func (a *API) ShelveServer(ctx context.Context, id string) error {
	if err := a.needAgent(); err != nil {
		return err
	}
	ac, err := a.begin(ctx, id, RuleShelve, compute.ActionShelve, nil)
	if err != nil {
		return err
	}
	return a.cast(ctx, ac, "shelve", func() error {
		imageID := ""
		if ac.inst.ImageRef != "" {
			if a.images == nil {
				return fmt.Errorf("no image service for the shelve snapshot: %w", compute.ErrUnavailable)
			}
			m, err := a.images.CreateImage(ctx, compute.ImageMeta{
				Name: ac.inst.Name + "-shelved",
				Properties: map[string]string{
					"image_type": "snapshot", "instance_uuid": ac.inst.UUID, "base_image_ref": ac.inst.ImageRef,
				},
			}, ac.inst.ProjectID)
			if err != nil {
				return err
			}
			imageID = m.ID
		}
		return a.agent.ShelveInstance(ctx, ac.inst, imageID)
	})
}

// ShelveOffloadServer offloads a shelved server (admin by default).
func (a *API) ShelveOffloadServer(ctx context.Context, id string) error {
	return a.simple(ctx, id, RuleShelveOffload, compute.ActionShelveOffload, func(ctx context.Context, i *compute.Instance) error {
		return a.agent.ShelveOffloadInstance(ctx, i)
	})
}

// UnshelveServer unshelves the server through the conductor. az and host
// (2.77, 2.91) narrow where an offloaded server goes; host needs
// RuleUnshelveToHost.
func (a *API) UnshelveServer(ctx context.Context, id string, req compute.UnshelveRequest) error {
	if err := a.needConductor(); err != nil {
		return err
	}
	if req.Host != "" {
		if _, err := a.authorize(ctx, RuleUnshelveToHost, Target{}); err != nil {
			return err
		}
	}
	if req.AvailabilityZone != "" {
		zones, err := a.knownZones(ctx)
		if err != nil {
			return err
		}
		if !zones[req.AvailabilityZone] {
			return badRequest("The requested availability zone is not available")
		}
	}
	ac, err := a.begin(ctx, id, RuleUnshelve, compute.ActionUnshelve, func(inst *compute.Instance, _ *compute.InstanceUpdate) error {
		if (req.Host != "" || req.AvailabilityZone != "") && inst.VMState != compute.VMShelvedOffloaded {
			return conflict("The server status must be SHELVED_OFFLOADED to unshelve to a host or zone.")
		}
		return nil
	})
	if err != nil {
		return err
	}
	req.RequestID = ac.rid
	return a.cast(ctx, ac, "unshelve", func() error { return a.conductor.UnshelveInstance(ctx, ac.inst, req) })
}

// CreateImage snapshots the server: a queued image record is created in
// the image service and the agent's snapshot cast sent. It returns the
// image id.
func (a *API) CreateImage(ctx context.Context, id, name string, metadata map[string]string) (string, error) {
	if err := a.needAgent(); err != nil {
		return "", err
	}
	if a.images == nil {
		return "", fmt.Errorf("api: no image service: %w", compute.ErrUnavailable)
	}
	ac, err := a.begin(ctx, id, RuleServersCreateImage, compute.ActionCreateImage, nil)
	if err != nil {
		return "", err
	}
	var imageID string
	err = a.cast(ctx, ac, "snapshot", func() error {
		props := map[string]string{}
		for k, v := range metadata {
			props[k] = v
		}
		props["image_type"] = "snapshot"
		props["instance_uuid"] = ac.inst.UUID
		if ac.inst.ImageRef != "" {
			props["base_image_ref"] = ac.inst.ImageRef
		}
		m, err := a.images.CreateImage(ctx, compute.ImageMeta{Name: name, Properties: props}, ac.inst.ProjectID)
		if err != nil {
			return err
		}
		imageID = m.ID
		return a.agent.SnapshotInstance(ctx, ac.inst, m.ID)
	})
	return imageID, err
}

// Metadata returns the server's metadata.
func (a *API) Metadata(ctx context.Context, id string) (map[string]string, error) {
	inst, err := a.GetServer(ctx, id, RuleMetadataIndex)
	if err != nil {
		return nil, err
	}
	if inst.Metadata == nil {
		return map[string]string{}, nil
	}
	return inst.Metadata, nil
}

// UpdateMetadata merges (replace=false) or replaces the server's
// metadata, checked against the metadata_items quota, and returns the
// metadata as stored. delete removes one key instead when non-empty.
func (a *API) UpdateMetadata(ctx context.Context, id, rule string, md map[string]string, replace bool, deleteKey string) (map[string]string, error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		inst, err := a.GetServer(ctx, id, rule)
		if err != nil {
			return nil, err
		}
		if err := compute.CheckAction(inst, compute.ActionUpdateMetadata, compute.CheckOptions{IsAdmin: c.IsAdmin()}); err != nil {
			return nil, err
		}
		out := map[string]string{}
		if !replace {
			for k, v := range inst.Metadata {
				out[k] = v
			}
		}
		if deleteKey != "" {
			if _, ok := out[deleteKey]; !ok {
				return nil, compute.NotFound("Metadata item", deleteKey)
			}
			delete(out, deleteKey)
		}
		for k, v := range md {
			out[k] = v
		}
		limits, err := a.st.Quotas().Limits(ctx, inst.ProjectID, "")
		if err != nil {
			return nil, err
		}
		if lim := limits[compute.QuotaMetadataItems]; lim >= 0 && len(out) > lim {
			return nil, &QuotaError{Message: fmt.Sprintf("Quota exceeded for metadata_items: Requested %d, but already used 0 of %d metadata_items", len(out), lim)}
		}
		// Compare-and-swap on the states seen, so that an action that
		// started meanwhile refuses the write; two metadata writers racing
		// each other: the last one wins, as in Nova.
		upd, err := a.st.Instances().Update(ctx, inst.UUID, compute.InstanceUpdate{
			ExpectedVMStates: []compute.VMState{inst.VMState}, ExpectedTaskStates: []compute.TaskState{inst.TaskState},
			Metadata: out,
		})
		if errors.Is(err, compute.ErrConflict) && attempt < 3 {
			continue
		}
		if err != nil {
			return nil, err
		}
		if upd.Metadata == nil {
			return map[string]string{}, nil
		}
		return upd.Metadata, nil
	}
}

// Server tag rules (os-server-tags, 2.26).
const (
	RuleTagsIndex     = "os_compute_api:os-server-tags:index"
	RuleTagsShow      = "os_compute_api:os-server-tags:show"
	RuleTagsUpdate    = "os_compute_api:os-server-tags:update"
	RuleTagsUpdateAll = "os_compute_api:os-server-tags:update_all"
	RuleTagsDelete    = "os_compute_api:os-server-tags:delete"
	RuleTagsDeleteAll = "os_compute_api:os-server-tags:delete_all"
)

// MaxTags is Nova's limit of tags per server.
const MaxTags = 50

// Tags returns the server's tags.
func (a *API) Tags(ctx context.Context, id, rule string) ([]string, error) {
	inst, err := a.GetServer(ctx, id, rule)
	if err != nil {
		return nil, err
	}
	if inst.Tags == nil {
		return []string{}, nil
	}
	return inst.Tags, nil
}

// UpdateTags rewrites the server's tag list with fn (given the current
// list) as a compare-and-swap on the states seen, and returns the list
// stored. More than MaxTags is refused (400).
func (a *API) UpdateTags(ctx context.Context, id, rule string, fn func([]string) ([]string, error)) ([]string, error) {
	for attempt := 0; ; attempt++ {
		inst, err := a.GetServer(ctx, id, rule)
		if err != nil {
			return nil, err
		}
		tags, err := fn(append([]string(nil), inst.Tags...))
		if err != nil {
			return nil, err
		}
		if len(tags) > MaxTags {
			return nil, badRequest("The number of tags exceeded the per-server limit %d", MaxTags)
		}
		if tags == nil {
			tags = []string{}
		}
		upd, err := a.st.Instances().Update(ctx, inst.UUID, compute.InstanceUpdate{
			ExpectedVMStates: []compute.VMState{inst.VMState}, ExpectedTaskStates: []compute.TaskState{inst.TaskState},
			Tags: tags,
		})
		if errors.Is(err, compute.ErrConflict) && attempt < 3 {
			continue
		}
		if err != nil {
			return nil, err
		}
		if upd.Tags == nil {
			return []string{}, nil
		}
		return upd.Tags, nil
	}
}
