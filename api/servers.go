package api

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/google/uuid"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/identity"
	"github.com/novakit/novakit/store"
)

// CreateRequest is a server create request (POST /servers) after the
// HTTP layer decoded and schema-checked it.
type CreateRequest struct {
	Name        string
	Description string
	Hostname    string
	ImageRef    string
	FlavorRef   string
	KeyName     string
	// UserData is base64 as the API receives it.
	UserData         string
	Metadata         map[string]string
	AvailabilityZone string // az[:host[:node]]
	// Host and HypervisorHostname (2.74) ask for a host (admin).
	Host               string
	HypervisorHostname string
	AdminPass          string
	AccessIPv4         string
	AccessIPv6         string
	ConfigDrive        bool
	DiskConfig         string
	MinCount, MaxCount int
	// Networks: explicit list, or one entry with Auto/None.
	Networks       []compute.RequestedNetwork
	SecurityGroups []string
	BlockDevices   []compute.BlockDeviceMapping
	Tags           []string
	// SchedulerHints as received (each value a list of strings).
	SchedulerHints map[string][]string
	InjectedFiles  []compute.InjectedFile
}

// CreateResult is what a create hands back.
type CreateResult struct {
	Instances     []*compute.Instance
	ReservationID string
	// AdminPass is the password set (given or generated), "" when none.
	AdminPass string
}

// flavorIDFromRef takes the last path segment of a flavor or image href.
func idFromRef(ref string) string {
	ref = strings.TrimRight(ref, "/")
	if i := strings.LastIndex(ref, "/"); i >= 0 {
		return ref[i+1:]
	}
	return ref
}

var hostnameBad = regexp.MustCompile(`[^a-z0-9.-]+`)

// sanitizeHostname turns a display name into a hostname as Nova does:
// lower case, spaces and underscores to dashes, other characters dropped,
// at most 63 characters, no leading or trailing dots or dashes.
func sanitizeHostname(name string) string {
	h := strings.ToLower(name)
	h = strings.NewReplacer(" ", "-", "_", "-").Replace(h)
	h = hostnameBad.ReplaceAllString(h, "")
	if len(h) > 63 {
		h = h[:63]
	}
	h = strings.Trim(h, ".-")
	if h == "" {
		h = "server"
	}
	return h
}

// knownZones returns the availability zones that exist: the default one
// and those of aggregates.
func (a *API) knownZones(ctx context.Context) (map[string]bool, error) {
	hz, err := a.st.Aggregates().HostAvailabilityZones(ctx)
	if err != nil {
		return nil, err
	}
	zones := map[string]bool{a.defaultAZ: true}
	for _, z := range hz {
		zones[z] = true
	}
	aggs, err := a.st.Aggregates().List(ctx)
	if err != nil {
		return nil, err
	}
	for _, ag := range aggs {
		if z := ag.AvailabilityZone(); z != "" {
			zones[z] = true
		}
	}
	return zones, nil
}

// Limits returns the project's limits and usage (GET /limits and quota
// detail).
func (a *API) usage(ctx context.Context, projectID string) (map[string]int, error) {
	m, err := a.instanceUsage(ctx, projectID)
	if err != nil {
		return nil, err
	}
	groups, err := a.st.ServerGroups().List(ctx, projectID, 0, 0)
	if err != nil {
		return nil, err
	}
	m[compute.QuotaServerGroups] = len(groups)
	return m, nil
}

// instanceUsage counts the project's live instances, cores and RAM.
func (a *API) instanceUsage(ctx context.Context, projectID string) (map[string]int, error) {
	u, err := a.st.Instances().Usage(ctx, projectID, "")
	if err != nil {
		return nil, err
	}
	return map[string]int{compute.QuotaInstances: u.Instances, compute.QuotaCores: u.VCPUs, compute.QuotaRAM: u.MemoryMB}, nil
}

// quotaError is the *QuotaError of a create of minCount instances of the
// flavor that does not fit next to used.
func quotaError(u store.InstanceUsage, limits map[string]int, fl *compute.Flavor, minCount int) *QuotaError {
	used := map[string]int{compute.QuotaInstances: u.Instances, compute.QuotaCores: u.VCPUs, compute.QuotaRAM: u.MemoryMB}
	per := map[string]int{compute.QuotaInstances: 1, compute.QuotaCores: fl.VCPUs, compute.QuotaRAM: fl.MemoryMB}
	qe := &QuotaError{Requested: map[string]int{}, Used: used, Allowed: limits}
	for _, r := range []string{compute.QuotaInstances, compute.QuotaCores, compute.QuotaRAM} {
		lim := limits[r]
		qe.Requested[r] = per[r] * minCount
		if lim >= 0 && used[r]+per[r]*minCount > lim {
			qe.Resources = append(qe.Resources, r)
		}
	}
	if len(qe.Resources) == 0 {
		// Concurrent creates took the room between the count and the
		// recheck of a database server.
		qe.Message = "Quota exceeded: concurrent requests took the remaining quota; try again"
	}
	return qe
}

// CreateServers validates req, stores the instances (vm_state building,
// task_state scheduling), their request specs, block device mappings and
// "create" actions in one transaction that also checks the project's
// instance, cores and RAM quota (so concurrent creates cannot together
// exceed it; max_count shrinks to what fits when min_count does), and
// casts the build to the conductor. It returns the stored instances. Not
// idempotent: each call creates new servers.
func (a *API) CreateServers(ctx context.Context, req CreateRequest) (*CreateResult, error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	target := Target{ProjectID: c.ProjectID, UserID: c.UserID}
	if err := a.policy.Authorize(ctx, c, RuleServersCreate, target); err != nil {
		return nil, err
	}
	if c.ProjectID == "" {
		return nil, &ForbiddenError{Rule: RuleServersCreate + " (the token is not scoped to a project)"}
	}
	if a.conductor == nil {
		return nil, fmt.Errorf("api: no conductor to build servers: %w", compute.ErrUnavailable)
	}
	if req.MinCount <= 0 {
		req.MinCount = 1
	}
	if req.MaxCount <= 0 {
		req.MaxCount = req.MinCount
	}
	if req.MinCount > req.MaxCount {
		return nil, badRequest("min_count must be <= max_count")
	}
	if strings.TrimSpace(req.Name) == "" {
		return nil, compute.InvalidInput("name", "must not be empty")
	}
	// Flavor.
	fl, err := a.st.Flavors().Get(ctx, idFromRef(req.FlavorRef))
	if errors.Is(err, compute.ErrNotFound) {
		return nil, badRequest("Flavor %s could not be found.", req.FlavorRef)
	} else if err != nil {
		return nil, err
	}
	if fl.Disabled {
		return nil, badRequest("Flavor is disabled.")
	}
	if !fl.IsPublic && !c.IsAdmin() {
		acc, err := a.st.Flavors().ListAccess(ctx, fl.FlavorID)
		if err != nil {
			return nil, err
		}
		ok := false
		for _, x := range acc {
			ok = ok || x.ProjectID == c.ProjectID
		}
		if !ok {
			return nil, badRequest("Flavor %s could not be found.", req.FlavorRef)
		}
	}
	// Image.
	bfv := false
	for _, b := range req.BlockDevices {
		if b.BootIndex != nil && *b.BootIndex == 0 && b.DestinationType == "volume" {
			bfv = true
		}
	}
	var img compute.ImageMeta
	imageID := idFromRef(req.ImageRef)
	switch {
	case imageID == "" && !bfv:
		return nil, compute.InvalidInput("imageRef", "is required unless booting from a volume")
	case imageID != "" && a.images != nil:
		img, err = a.images.ImageMeta(ctx, imageID)
		if errors.Is(err, compute.ErrNotFound) {
			return nil, badRequest("Image %s could not be found.", imageID)
		} else if err != nil {
			return nil, err
		}
		if img.MinRAMMB > fl.MemoryMB {
			return nil, badRequest("Flavor's memory is too small for requested image.")
		}
		if !bfv && fl.RootGB > 0 && img.MinDiskGB > fl.RootGB {
			return nil, badRequest("Flavor's disk is too small for requested image.")
		}
		if !bfv && fl.RootGB > 0 && img.Size > int64(fl.RootGB)<<30 {
			return nil, badRequest("Flavor's disk is too small for requested image.")
		}
	case imageID != "":
		img = compute.ImageMeta{ID: imageID}
	}
	if imageID != "" && imageID == req.ImageRef {
		if _, perr := uuid.Parse(imageID); perr != nil && a.images == nil {
			return nil, compute.InvalidInput("imageRef", "%q is not a valid image id", req.ImageRef)
		}
	}
	// Key pair.
	var keyData string
	if req.KeyName != "" {
		kp, err := a.st.KeyPairs().Get(ctx, c.UserID, req.KeyName)
		if errors.Is(err, compute.ErrNotFound) {
			return nil, badRequest("Invalid key_name provided.")
		} else if err != nil {
			return nil, err
		}
		keyData = kp.PublicKey
	}
	if req.UserData != "" {
		if _, err := base64.StdEncoding.DecodeString(req.UserData); err != nil {
			return nil, badRequest("User data needs to be valid base 64.")
		}
	}
	// Metadata quota.
	limits, err := a.st.Quotas().Limits(ctx, c.ProjectID, "")
	if err != nil {
		return nil, err
	}
	if lim := limits[compute.QuotaMetadataItems]; lim >= 0 && len(req.Metadata) > lim {
		return nil, &QuotaError{Message: fmt.Sprintf("Quota exceeded for metadata_items: Requested %d, but already used 0 of %d metadata_items", len(req.Metadata), lim)}
	}
	// Availability zone and forced host.
	az, host, node := req.AvailabilityZone, req.Host, req.HypervisorHostname
	if strings.Contains(az, ":") {
		parts := strings.SplitN(az, ":", 3)
		az = parts[0]
		if len(parts) > 1 && parts[1] != "" {
			host = parts[1]
		}
		if len(parts) > 2 && parts[2] != "" {
			node = parts[2]
		}
	}
	if (host != "" || node != "") && !a.Can(ctx, RuleServersCreateForced, target) {
		return nil, &ForbiddenError{Rule: RuleServersCreateForced}
	}
	if az != "" {
		zones, err := a.knownZones(ctx)
		if err != nil {
			return nil, err
		}
		if !zones[az] {
			return nil, badRequest("The requested availability zone is not available")
		}
	}
	// Server group.
	var group *compute.ServerGroup
	if g := firstHint(req.SchedulerHints, "group"); g != "" {
		group, err = a.st.ServerGroups().Get(ctx, g)
		if errors.Is(err, compute.ErrNotFound) {
			return nil, badRequest("Invalid server group %s", g)
		} else if err != nil {
			return nil, err
		}
		if !c.IsAdmin() && group.ProjectID != c.ProjectID {
			return nil, badRequest("Invalid server group %s", g)
		}
		if lim := limits[compute.QuotaServerGroupMembers]; lim >= 0 && len(group.Members)+req.MinCount > lim {
			return nil, &QuotaError{Message: "Quota exceeded, too many servers in group"}
		}
	}
	// Quota: the instances are counted against it in the transaction
	// that writes them (store.CreateBuilds); here only the server
	// group's room bounds the count.
	count := req.MaxCount
	if group != nil {
		if lim := limits[compute.QuotaServerGroupMembers]; lim >= 0 && len(group.Members)+count > lim {
			count = lim - len(group.Members)
		}
	}
	adminPass := req.AdminPass
	if adminPass == "" && a.passwords {
		adminPass = generatePassword(12)
	}
	resID := newReservationID()
	rid := requestID(ctx)
	hints := req.SchedulerHints
	spec := &compute.RequestSpec{
		ProjectID: c.ProjectID, UserID: c.UserID, Flavor: *fl, Image: img, NumInstances: count,
		AvailabilityZone: az, SchedulerHints: hints, IsBFV: bfv, SecurityGroups: req.SecurityGroups,
		InstanceGroup: group,
	}
	if host != "" || node != "" {
		spec.RequestedDestination = &compute.Destination{Host: host, Node: node}
		if host != "" {
			spec.ForceHosts = []string{host}
		}
		if node != "" {
			spec.ForceNodes = []string{node}
		}
	}
	var bdms []compute.BlockDeviceMapping
	if !bfv && imageID != "" {
		bdms = append(bdms, compute.BlockDeviceMapping{
			BootIndex: compute.Ptr(0), SourceType: "image", DestinationType: "local",
			ImageID: imageID, DeleteOnTermination: true, DeviceType: "disk",
		})
	}
	bdms = append(bdms, req.BlockDevices...)
	for i := range bdms {
		bdms[i].UUID = ""
	}
	sysMeta := imageSystemMetadata(img)
	diskConfig := req.DiskConfig
	if diskConfig == "" {
		diskConfig = "MANUAL"
	}
	// builds are the records of count instances; names and hostnames
	// carry an index when there are several.
	builds := func(count int) []store.InstanceBuild {
		out := make([]store.InstanceBuild, count)
		for i := range out {
			name := req.Name
			if count > 1 {
				name = fmt.Sprintf("%s-%d", req.Name, i+1)
			}
			hostname := req.Hostname
			if hostname == "" {
				hostname = sanitizeHostname(name)
			} else if count > 1 {
				hostname = fmt.Sprintf("%s-%d", hostname, i+1)
			}
			is := *spec
			is.NumInstances = count
			out[i] = store.InstanceBuild{
				Instance: &compute.Instance{
					UUID: uuid.NewString(), Name: name, Hostname: hostname, Description: req.Description,
					ProjectID: c.ProjectID, UserID: c.UserID, ImageRef: imageID, Flavor: *fl,
					VMState: compute.VMBuilding, TaskState: compute.TaskScheduling, PowerState: compute.PowerNoState,
					AvailabilityZone: az, KeyName: req.KeyName, KeyData: keyData, UserData: req.UserData,
					ConfigDrive: req.ConfigDrive, AccessIPv4: req.AccessIPv4, AccessIPv6: req.AccessIPv6,
					Metadata: req.Metadata, ReservationID: resID, LaunchIndex: i, DiskConfig: diskConfig,
					Tags: req.Tags, SystemMetadata: sysMeta,
				},
				Spec:         &is,
				BlockDevices: bdms,
				Action: &compute.InstanceAction{
					Action: compute.ActionCreate.RecordName(), RequestID: rid,
					UserID: c.UserID, ProjectID: c.ProjectID, StartTime: a.now(),
				},
			}
		}
		return out
	}
	quota := &store.BuildQuota{Limits: limits}
	var stored []store.InstanceBuild
	for attempt := 0; ; attempt++ {
		stored, err = a.st.CreateBuilds(ctx, builds(count), quota)
		var room *store.QuotaRoomError
		if !errors.As(err, &room) {
			break
		}
		// max_count is reduced to what the quota allows when min_count
		// fits (Nova's _check_num_instances_quota).
		if room.Room >= req.MinCount && room.Room < count && attempt < 3 {
			count = room.Room
			continue
		}
		return nil, quotaError(room.Usage, limits, fl, req.MinCount)
	}
	if err != nil {
		return nil, err
	}
	res := &CreateResult{ReservationID: resID, AdminPass: adminPass}
	spec.NumInstances = count
	br := &compute.BuildRequest{
		RequestID: rid, Spec: spec, AdminPassword: adminPass, Networks: req.Networks,
		InjectedFiles: req.InjectedFiles, Tags: req.Tags,
		BlockDevices: make(map[string][]compute.BlockDeviceMapping, len(stored)),
	}
	for _, b := range stored {
		res.Instances = append(res.Instances, b.Instance)
		br.InstanceUUIDs = append(br.InstanceUUIDs, b.Instance.UUID)
		br.BlockDevices[b.Instance.UUID] = b.BlockDevices
	}
	// cleanup removes what this request stored when a later step fails.
	cleanup := func() {
		cctx := context.WithoutCancel(ctx)
		for _, inst := range res.Instances {
			_, _ = a.st.Instances().SoftDelete(cctx, inst.UUID, compute.InstanceUpdate{
				VMState: compute.Ptr(compute.VMDeleted), TaskState: compute.Ptr(compute.TaskNone),
				TerminatedAt: compute.Ptr(a.now()),
			})
			_ = a.st.RequestSpecs().Delete(cctx, inst.UUID)
			_, _ = a.st.BlockDevices().DeleteByInstance(cctx, inst.UUID)
			if group != nil {
				_ = a.st.ServerGroups().RemoveMember(cctx, inst.UUID)
			}
		}
	}
	if group != nil {
		if _, err := a.st.ServerGroups().AddMembers(ctx, group.UUID, br.InstanceUUIDs...); err != nil {
			cleanup()
			return nil, err
		}
	}
	if err := a.conductor.ScheduleAndBuildInstances(ctx, br); err != nil {
		cleanup()
		return nil, fmt.Errorf("api: hand the build to the conductor: %w", err)
	}
	return res, nil
}

func imageSystemMetadata(img compute.ImageMeta) map[string]string {
	if img.ID == "" && len(img.Properties) == 0 {
		return nil
	}
	m := map[string]string{}
	for k, v := range img.Properties {
		m["image_"+k] = v
	}
	if img.MinRAMMB > 0 {
		m["image_min_ram"] = fmt.Sprint(img.MinRAMMB)
	}
	if img.MinDiskGB > 0 {
		m["image_min_disk"] = fmt.Sprint(img.MinDiskGB)
	}
	if img.DiskFormat != "" {
		m["image_disk_format"] = img.DiskFormat
	}
	if img.ContainerFormat != "" {
		m["image_container_format"] = img.ContainerFormat
	}
	if img.Name != "" {
		m["image_base_image_ref"] = img.ID
	}
	return m
}

func firstHint(h map[string][]string, k string) string {
	if v := h[k]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// getInstance loads an instance the caller may see: another project's
// instance is reported as not found unless the caller is an admin
// (Nova's project_only instance lookups).
func (a *API) getInstance(ctx context.Context, c *identity.Credentials, id string, withDeleted bool) (*compute.Instance, error) {
	var (
		inst *compute.Instance
		err  error
	)
	if withDeleted {
		inst, err = a.st.Instances().GetWithDeleted(ctx, id)
	} else {
		inst, err = a.st.Instances().Get(ctx, id)
	}
	if errors.Is(err, compute.ErrNotFound) {
		return nil, compute.NotFound("Instance", id)
	}
	if err != nil {
		return nil, err
	}
	if !c.IsAdmin() && inst.ProjectID != c.ProjectID {
		return nil, compute.NotFound("Instance", id)
	}
	return inst, nil
}

// GetServer returns the server, checked with rule (RuleServersShow when
// empty). Another project's server is ErrNotFound for non-admins.
func (a *API) GetServer(ctx context.Context, id, rule string) (*compute.Instance, error) {
	return a.getServer(ctx, id, rule, false)
}

// GetServerWithDeleted is GetServer that also finds deleted servers.
func (a *API) GetServerWithDeleted(ctx context.Context, id, rule string) (*compute.Instance, error) {
	return a.getServer(ctx, id, rule, true)
}

func (a *API) getServer(ctx context.Context, id, rule string, withDeleted bool) (*compute.Instance, error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if rule == "" {
		rule = RuleServersShow
	}
	inst, err := a.getInstance(ctx, c, id, withDeleted)
	if err != nil {
		return nil, err
	}
	if err := a.policy.Authorize(ctx, c, rule, Target{ProjectID: inst.ProjectID, UserID: inst.UserID}); err != nil {
		return nil, err
	}
	return inst, nil
}

// ListServers lists servers. Unless allTenants (which needs
// RuleServersIndexAllTenant) the listing is scoped to the caller's
// project, whatever the filter says.
func (a *API) ListServers(ctx context.Context, f compute.InstanceFilter, opts compute.ListOptions, allTenants bool, rule string) ([]*compute.Instance, error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if rule == "" {
		rule = RuleServersIndex
	}
	if err := a.policy.Authorize(ctx, c, rule, Target{ProjectID: c.ProjectID, UserID: c.UserID}); err != nil {
		return nil, err
	}
	if allTenants {
		if err := a.policy.Authorize(ctx, c, RuleServersIndexAllTenant, Target{ProjectID: c.ProjectID}); err != nil {
			return nil, err
		}
	} else {
		f.ProjectID = c.ProjectID
		if f.ProjectID == "" {
			return nil, nil
		}
	}
	if opts.Limit <= 0 || opts.Limit > a.maxLimit {
		opts.Limit = a.maxLimit
	}
	return a.st.Instances().List(ctx, f, opts)
}

// ServerUpdate is a PUT /servers/{id}: nil fields stay.
type ServerUpdate struct {
	Name        *string
	Description *string
	Hostname    *string
	AccessIPv4  *string
	AccessIPv6  *string
	DiskConfig  *string
}

// UpdateServer applies u and returns the server as stored.
func (a *API) UpdateServer(ctx context.Context, id string, u ServerUpdate) (*compute.Instance, error) {
	inst, err := a.GetServer(ctx, id, RuleServersUpdate)
	if err != nil {
		return nil, err
	}
	up := compute.InstanceUpdate{
		Name: u.Name, Description: u.Description, Hostname: u.Hostname,
		AccessIPv4: u.AccessIPv4, AccessIPv6: u.AccessIPv6,
	}
	return a.st.Instances().Update(ctx, inst.UUID, up)
}

// DeleteServer deletes the server: a server that never reached a host, or
// whose compute service is down or unknown, is deleted here (Nova's local
// delete); otherwise its task becomes deleting and the agent is told to
// terminate it. Deleting a deleted server is ErrNotFound.
func (a *API) DeleteServer(ctx context.Context, id string) error {
	c, err := caller(ctx)
	if err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		inst, err := a.GetServer(ctx, id, RuleServersDelete)
		if err != nil {
			return err
		}
		if err := compute.CheckAction(inst, compute.ActionDelete, compute.CheckOptions{IsAdmin: c.IsAdmin()}); err != nil {
			return err
		}
		if inst.TaskState == compute.TaskDeleting && inst.Host != "" {
			// Already being deleted: Nova lets the delete be repeated.
			return nil
		}
		local := inst.Host == ""
		if !local {
			svc, err := a.st.Services().GetByHostBinary(ctx, inst.Host, "nova-compute")
			switch {
			case errors.Is(err, compute.ErrNotFound):
				local = true
			case err != nil:
				return err
			default:
				local = !a.ServiceIsUp(svc)
			}
		}
		if !local && a.agent == nil {
			return fmt.Errorf("api: no compute agent client to terminate %s: %w", inst.UUID, compute.ErrUnavailable)
		}
		rid := requestID(ctx)
		if _, err := a.st.InstanceActions().Start(ctx, &compute.InstanceAction{
			Action: compute.ActionDelete.RecordName(), InstanceUUID: inst.UUID, RequestID: rid,
			UserID: c.UserID, ProjectID: inst.ProjectID, StartTime: a.now(),
		}); err != nil && !errors.Is(err, compute.ErrConflict) {
			return err
		}
		expect := compute.InstanceUpdate{
			ExpectedVMStates: []compute.VMState{inst.VMState}, ExpectedTaskStates: []compute.TaskState{inst.TaskState},
		}
		if local {
			u := expect
			u.VMState = compute.Ptr(compute.VMDeleted)
			u.TaskState = compute.Ptr(compute.TaskNone)
			u.PowerState = compute.Ptr(compute.PowerNoState)
			u.TerminatedAt = compute.Ptr(a.now())
			if _, err := a.st.Instances().SoftDelete(ctx, inst.UUID, u); err != nil {
				if errors.Is(err, compute.ErrConflict) && attempt < 3 {
					continue // the conductor moved it on; look again
				}
				return err
			}
			_ = a.st.ServerGroups().RemoveMember(ctx, inst.UUID)
			a.dropAllocations(ctx, inst.UUID)
			_, _ = a.st.InstanceActions().Finish(ctx, inst.UUID, rid, "")
			return nil
		}
		u := expect
		u.TaskState = compute.Ptr(compute.TaskDeleting)
		upd, err := a.st.Instances().Update(ctx, inst.UUID, u)
		if err != nil {
			if errors.Is(err, compute.ErrConflict) && attempt < 3 {
				continue
			}
			return err
		}
		if inst.VMState == compute.VMResized {
			// Confirm the resize first so that the source host cleans up
			// (Nova's _confirm_resize_on_deleting).
			if mig, err := a.resizeMigration(ctx, inst); err == nil {
				if mig, err = a.st.Migrations().Update(ctx, mig.UUID, store.MigrationUpdate{
					ExpectedStatuses: []string{compute.MigrationFinished}, Status: compute.Ptr(compute.MigrationConfirming),
				}); err == nil {
					if err := a.agent.ConfirmResize(ctx, upd, mig); err != nil {
						a.log.Warn("api: confirm resize before delete", "instance", inst.UUID, "err", err)
					}
				}
			}
		}
		if err := a.agent.TerminateInstance(ctx, upd); err != nil {
			a.rollbackTask(ctx, upd.UUID, compute.TaskDeleting, inst.TaskState)
			return fmt.Errorf("api: cast terminate_instance: %w", err)
		}
		return nil
	}
}

// dropAllocations removes the instance's placement allocations, if the
// API has a placement client; failures are logged.
func (a *API) dropAllocations(ctx context.Context, id string) {
	if a.placement == nil {
		return
	}
	if err := a.placement.DeleteAllocations(context.WithoutCancel(ctx), id); err != nil {
		a.log.Debug("api: delete allocations of a locally deleted instance", "instance", id, "err", err)
	}
}

// rollbackTask puts the task state back after a failed cast, if nothing
// changed it since.
func (a *API) rollbackTask(ctx context.Context, id string, set, prev compute.TaskState) {
	_, err := a.st.Instances().Update(context.WithoutCancel(ctx), id, compute.InstanceUpdate{
		ExpectedTaskStates: []compute.TaskState{set}, TaskState: compute.Ptr(prev),
	})
	if err != nil {
		a.log.Warn("api: roll back task state", "instance", id, "err", err)
	}
}

// Faults returns the newest fault of each instance.
func (a *API) Faults(ctx context.Context, uuids []string) (map[string]*compute.InstanceFault, error) {
	return a.st.Faults().Latest(ctx, uuids)
}

// HostServices returns the compute services by host, for host_status.
func (a *API) HostServices(ctx context.Context) (map[string]*compute.Service, error) {
	svcs, err := a.st.Services().List(ctx, store.ServiceFilter{Binary: "nova-compute"})
	if err != nil {
		return nil, err
	}
	m := make(map[string]*compute.Service, len(svcs))
	for _, s := range svcs {
		m[s.Host] = s
	}
	return m, nil
}
