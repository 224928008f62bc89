package compute

// MigrateRequest is what the API hands the conductor to resize or cold
// migrate an instance (Nova's migrate_server with live=False). The API has
// already checked the action against the instance's state, moved it to
// task_state resize_prep and recorded the instance action under RequestID;
// the conductor owns everything after that. It travels over the queue as
// JSON and must stay self-contained.
type MigrateRequest struct {
	// RequestID is the API request id (req-…). The conductor records its
	// action events under it and uses it to make the request idempotent:
	// the migration record it creates is keyed by it, so a repeated
	// request finds the migration of the first one.
	RequestID string `json:"request_id"`
	// NewFlavor is the flavor to resize to; nil means a cold migration
	// (the instance keeps its flavor and only changes host).
	NewFlavor *Flavor `json:"new_flavor,omitempty"`
	// Host is the destination an admin asked for (2.56 cold migrate
	// "host"); "" lets the scheduler choose.
	Host string `json:"host,omitempty"`
	// AllowSameHost allows the scheduler to pick the source host again
	// (Nova's allow_resize_to_same_host). A cold migration never stays on
	// its host.
	AllowSameHost bool `json:"allow_same_host,omitempty"`
	// CleanShutdown asks the source to shut the guest down gracefully
	// before moving its disks (Nova's clean_shutdown, true from the API).
	CleanShutdown bool `json:"clean_shutdown"`
	// DiskConfig is the API's OS-DCF:diskConfig for the resized disk
	// ("AUTO", "MANUAL" or "" to keep).
	DiskConfig string `json:"disk_config,omitempty"`
}

// IsResize reports whether the request changes the flavor.
func (r *MigrateRequest) IsResize() bool { return r.NewFlavor != nil }

// MigrationType returns the migration record type the request makes:
// [MigrationTypeResize] or [MigrationTypeMigration].
func (r *MigrateRequest) MigrationType() string {
	if r.IsResize() {
		return MigrationTypeResize
	}
	return MigrationTypeMigration
}

// RebuildRequest is what the API hands the conductor to rebuild an
// instance in place, or to evacuate it (rebuild it on another host because
// its host is down). The API has already moved the instance to
// task_state rebuilding (evacuate: rebuilding too, as Nova does from the
// conductor) and recorded the action under RequestID.
type RebuildRequest struct {
	// RequestID is the API request id; action events and the
	// evacuation's migration record are keyed by it.
	RequestID string `json:"request_id"`
	// ImageRef is the image to rebuild from. For an evacuation it is the
	// instance's current image.
	ImageRef string `json:"image_ref"`
	// OrigImageRef is the image the instance ran before the rebuild.
	OrigImageRef string `json:"orig_image_ref,omitempty"`
	// Image is the new image's metadata, when the image changes (the
	// conductor then asks the scheduler whether the host still accepts
	// it, as Nova does since Queens).
	Image *ImageMeta `json:"image,omitempty"`
	// AdminPassword is the password to set in the guest, if any. It is
	// never stored or logged.
	AdminPassword string `json:"admin_password,omitempty"`
	// InjectedFiles are the API's "personality" files (before 2.57).
	InjectedFiles []InjectedFile `json:"injected_files,omitempty"`
	// PreserveEphemeral keeps the ephemeral disk across the rebuild.
	PreserveEphemeral bool `json:"preserve_ephemeral,omitempty"`
	// ReimageBootVolume rebuilds a volume-backed instance's root volume
	// too (2.93).
	ReimageBootVolume bool `json:"reimage_boot_volume,omitempty"`

	// Evacuate makes this an evacuation: the instance's host is down and
	// the instance is rebuilt on another host (Host, or one the scheduler
	// chooses), with a migration record of type evacuation.
	Evacuate bool `json:"evacuate,omitempty"`
	// Host is the evacuation's destination an admin asked for; "" lets
	// the scheduler choose. Ignored unless Evacuate.
	Host string `json:"host,omitempty"`
	// OnSharedStorage says whether the instance's disks are on storage
	// the destination shares; nil lets the destination find out (2.14+).
	OnSharedStorage *bool `json:"on_shared_storage,omitempty"`
	// TargetState is the vm_state the evacuated instance ends in:
	// [VMActive] (or "", the default) or [VMStopped] (2.95).
	TargetState VMState `json:"target_state,omitempty"`
}

// UnshelveRequest is what the API hands the conductor to unshelve an
// instance. A shelved (not offloaded) instance is simply started again on
// its host; a shelved_offloaded one is scheduled again. The API has
// already moved the instance to task_state unshelving and recorded the
// action under RequestID.
type UnshelveRequest struct {
	// RequestID is the API request id; action events are keyed by it.
	RequestID string `json:"request_id"`
	// AvailabilityZone restricts the new host to a zone (2.77); "" keeps
	// the request spec's zone unless UnpinAZ.
	AvailabilityZone string `json:"availability_zone,omitempty"`
	// UnpinAZ removes the request spec's zone (2.91 availability_zone
	// null).
	UnpinAZ bool `json:"unpin_az,omitempty"`
	// Host is the destination an admin asked for (2.91); "" lets the
	// scheduler choose.
	Host string `json:"host,omitempty"`
}

// RescheduleRequest is a build handed back to the conductor by the agent
// of the host where it failed (Nova's build_instances with host_lists). It
// travels over the queue as JSON. It is the same value as
// agent.RescheduleRequest (package compute/agent declares that name as an
// alias of this type, so the conductor needs no import of the agent).
type RescheduleRequest struct {
	// RequestID is the request id of the instance's create action.
	RequestID    string `json:"request_id"`
	InstanceUUID string `json:"instance_uuid"`
	// Spec is the request spec; its Retry lists the hosts tried so far,
	// this one included, and counts the attempts.
	Spec *RequestSpec `json:"request_spec"`
	// Alternates are the hosts left to try, in the scheduler's order,
	// each with its (unclaimed) allocation request. Empty: no retry left.
	Alternates []Selection `json:"host_list"`
	// FailedHost and FailedNode are where the build just failed; Reason
	// is the driver's error text (recorded in the fault if the conductor
	// gives up).
	FailedHost string `json:"failed_host"`
	FailedNode string `json:"failed_node,omitempty"`
	Reason     string `json:"reason"`

	AdminPassword string               `json:"admin_password,omitempty"`
	InjectedFiles []InjectedFile       `json:"injected_files,omitempty"`
	Networks      []RequestedNetwork   `json:"networks,omitempty"`
	BlockDevices  []BlockDeviceMapping `json:"block_devices,omitempty"`
	Tags          []string             `json:"tags,omitempty"`
}
