package compute

import "time"

// InstanceAction is one entry of an instance's action log
// (os-instance-actions): an API request that acted on the instance, keyed
// by the request id, with the events the services recorded for it.
type InstanceAction struct {
	ID           int64                 `json:"id,omitempty"`
	Action       string                `json:"action"` // see Action.RecordName
	InstanceUUID string                `json:"instance_uuid"`
	RequestID    string                `json:"request_id"`
	UserID       string                `json:"user_id"`
	ProjectID    string                `json:"project_id"`
	StartTime    time.Time             `json:"start_time"`
	FinishTime   time.Time             `json:"finish_time,omitzero"`
	Message      string                `json:"message,omitempty"`
	UpdatedAt    time.Time             `json:"updated_at,omitzero"`
	Events       []InstanceActionEvent `json:"events,omitempty"`
}

// Event results, as Nova records them.
const (
	EventSuccess = "Success"
	EventError   = "Error"
)

// InstanceActionEvent is one step of an action as a service ran it:
// "compute_build_and_run_instance", "conductor_schedule_and_build_instances",
// "schedule_instances" … A running event has no FinishTime and no Result.
type InstanceActionEvent struct {
	Event      string    `json:"event"`
	StartTime  time.Time `json:"start_time"`
	FinishTime time.Time `json:"finish_time,omitzero"`
	Result     string    `json:"result,omitempty"` // EventSuccess or EventError
	Traceback  string    `json:"traceback,omitempty"`
	Host       string    `json:"host,omitempty"`
	Details    string    `json:"details,omitempty"`
}

// InstanceFault records why an instance went to ERROR (or why an action
// failed): the API shows the newest one as the server's "fault".
type InstanceFault struct {
	ID           int64     `json:"id,omitempty"`
	InstanceUUID string    `json:"instance_uuid"`
	Code         int       `json:"code"` // an HTTP-like code: 500 for internal errors
	Message      string    `json:"message"`
	Details      string    `json:"details,omitempty"`
	Host         string    `json:"host,omitempty"`
	CreatedAt    time.Time `json:"created_at,omitzero"`
}

// Service is one running novakit service on a host (nova-compute,
// nova-conductor, nova-scheduler …): its registration and heartbeat.
// (Host, Binary) is unique among live services.
type Service struct {
	ID             int64     `json:"id,omitempty"`
	UUID           string    `json:"uuid"`
	Host           string    `json:"host"`
	Binary         string    `json:"binary"` // "nova-compute", "nova-conductor" …
	Topic          string    `json:"topic,omitempty"`
	ReportCount    int64     `json:"report_count"`
	Disabled       bool      `json:"disabled"`
	DisabledReason string    `json:"disabled_reason,omitempty"`
	ForcedDown     bool      `json:"forced_down"`
	LastSeenUp     time.Time `json:"last_seen_up,omitzero"`
	Version        int       `json:"version"`
	CreatedAt      time.Time `json:"created_at,omitzero"`
	UpdatedAt      time.Time `json:"updated_at,omitzero"`
}

// Nova's service health defaults: services report every 10 s and count as
// down after 60 s without a report.
const (
	DefaultReportInterval  = 10 * time.Second
	DefaultServiceDownTime = 60 * time.Second
)

// IsUp reports whether the service counts as up at now: not forced down
// and seen (or, never seen, created) within downTime, as Nova's db
// servicegroup driver decides.
func (s *Service) IsUp(now time.Time, downTime time.Duration) bool {
	if s.ForcedDown {
		return false
	}
	last := s.LastSeenUp
	if last.IsZero() {
		last = s.CreatedAt
	}
	d := now.Sub(last)
	if d < 0 {
		d = -d
	}
	return d <= downTime
}

// ComputeNode is one hypervisor node a compute service manages: its
// resources and usage as the compute agent last reported them. UUID is
// also the node's resource provider uuid in placement.
type ComputeNode struct {
	ID                 int64             `json:"id,omitempty"`
	UUID               string            `json:"uuid"`
	Host               string            `json:"host"`
	HypervisorHostname string            `json:"hypervisor_hostname"`
	HypervisorType     string            `json:"hypervisor_type"`
	HypervisorVersion  int               `json:"hypervisor_version"`
	HostIP             string            `json:"host_ip,omitempty"`
	VCPUs              int               `json:"vcpus"`
	VCPUsUsed          int               `json:"vcpus_used"`
	MemoryMB           int               `json:"memory_mb"`
	MemoryMBUsed       int               `json:"memory_mb_used"`
	LocalGB            int               `json:"local_gb"`
	LocalGBUsed        int               `json:"local_gb_used"`
	FreeRAMMB          int               `json:"free_ram_mb"`
	FreeDiskGB         int               `json:"free_disk_gb"`
	DiskAvailableLeast int               `json:"disk_available_least"`
	CurrentWorkload    int               `json:"current_workload"`
	RunningVMs         int               `json:"running_vms"`
	CPUInfo            string            `json:"cpu_info,omitempty"` // JSON, as the driver reports it
	Stats              map[string]string `json:"stats,omitempty"`
	// Allocation ratios (0 means unset: placement's value stands).
	CPUAllocationRatio  float64   `json:"cpu_allocation_ratio"`
	RAMAllocationRatio  float64   `json:"ram_allocation_ratio"`
	DiskAllocationRatio float64   `json:"disk_allocation_ratio"`
	CreatedAt           time.Time `json:"created_at,omitzero"`
	UpdatedAt           time.Time `json:"updated_at,omitzero"`
}

// Migration types.
const (
	MigrationTypeMigration = "migration"
	MigrationTypeResize    = "resize"
	MigrationTypeLive      = "live-migration"
	MigrationTypeEvacuate  = "evacuation"
)

// Migration statuses seen in Nova.
const (
	MigrationPreMigrating  = "pre-migrating"
	MigrationMigrating     = "migrating"
	MigrationPostMigrating = "post-migrating"
	MigrationFinished      = "finished"
	MigrationConfirming    = "confirming"
	MigrationConfirmed     = "confirmed"
	MigrationReverting     = "reverting"
	MigrationReverted      = "reverted"
	MigrationAccepted      = "accepted"
	MigrationQueued        = "queued"
	MigrationPreparing     = "preparing"
	MigrationRunning       = "running"
	MigrationCompleted     = "completed"
	MigrationFailed        = "failed"
	MigrationError         = "error"
	MigrationCancelled     = "cancelled"
	MigrationDone          = "done"
)

// Migration records a move of an instance between hosts (resize, cold or
// live migration, evacuation). While it runs, the source host's usage is
// held in placement under the migration's UUID as consumer.
type Migration struct {
	ID            int64  `json:"id,omitempty"`
	UUID          string `json:"uuid"`
	InstanceUUID  string `json:"instance_uuid"`
	MigrationType string `json:"migration_type"`
	Status        string `json:"status"`
	SourceCompute string `json:"source_compute,omitempty"`
	SourceNode    string `json:"source_node,omitempty"`
	DestCompute   string `json:"dest_compute,omitempty"`
	DestNode      string `json:"dest_node,omitempty"`
	DestHost      string `json:"dest_host,omitempty"`
	// OldFlavorID and NewFlavorID are the flavors' API ids.
	OldFlavorID string `json:"old_instance_type_id,omitempty"`
	NewFlavorID string `json:"new_instance_type_id,omitempty"`
	Hidden      bool   `json:"hidden,omitempty"`
	UserID      string `json:"user_id,omitempty"`
	ProjectID   string `json:"project_id,omitempty"`
	// Progress of a live migration, in bytes.
	MemoryTotal     int64     `json:"memory_total_bytes,omitempty"`
	MemoryProcessed int64     `json:"memory_processed_bytes,omitempty"`
	MemoryRemaining int64     `json:"memory_remaining_bytes,omitempty"`
	DiskTotal       int64     `json:"disk_total_bytes,omitempty"`
	DiskProcessed   int64     `json:"disk_processed_bytes,omitempty"`
	DiskRemaining   int64     `json:"disk_remaining_bytes,omitempty"`
	CreatedAt       time.Time `json:"created_at,omitzero"`
	UpdatedAt       time.Time `json:"updated_at,omitzero"`
}

// Server group policies.
const (
	PolicyAffinity         = "affinity"
	PolicyAntiAffinity     = "anti-affinity"
	PolicySoftAffinity     = "soft-affinity"
	PolicySoftAntiAffinity = "soft-anti-affinity"
)

// ServerGroup is a set of servers with a placement policy between them.
// Rules carries max_server_per_host for anti-affinity.
type ServerGroup struct {
	ID        int64          `json:"id,omitempty"`
	UUID      string         `json:"uuid"`
	Name      string         `json:"name"`
	ProjectID string         `json:"project_id"`
	UserID    string         `json:"user_id"`
	Policy    string         `json:"policy"`
	Rules     map[string]int `json:"rules,omitempty"`
	Members   []string       `json:"members,omitempty"` // instance uuids
	// Hosts is derived by the scheduler from the members' hosts; the
	// store does not keep it.
	Hosts     []string  `json:"hosts,omitempty"`
	CreatedAt time.Time `json:"created_at,omitzero"`
}

// Validate checks the policy and rules.
func (g *ServerGroup) Validate() error {
	switch g.Policy {
	case PolicyAffinity, PolicyAntiAffinity, PolicySoftAffinity, PolicySoftAntiAffinity:
	default:
		return InvalidInput("policy", "%q is not one of affinity, anti-affinity, soft-affinity, soft-anti-affinity", g.Policy)
	}
	for k, v := range g.Rules {
		if k != "max_server_per_host" {
			return InvalidInput("rules", "unknown rule %q", k)
		}
		if g.Policy != PolicyAntiAffinity {
			return InvalidInput("rules", "only the anti-affinity policy takes rules")
		}
		if v < 1 {
			return InvalidInput("rules.max_server_per_host", "must be at least 1")
		}
	}
	return nil
}

// AggregateAZKey is the aggregate metadata key that names an availability
// zone; DefaultAvailabilityZone is the zone of hosts in no such aggregate.
const (
	AggregateAZKey           = "availability_zone"
	DefaultAvailabilityZone  = "nova"
	InternalAvailabilityZone = "internal"
)

// Aggregate is a named set of hosts with metadata. An aggregate with
// metadata availability_zone=X makes its hosts an availability zone.
type Aggregate struct {
	ID        int64             `json:"id,omitempty"`
	UUID      string            `json:"uuid"`
	Name      string            `json:"name"`
	Hosts     []string          `json:"hosts"`
	Metadata  map[string]string `json:"metadata"`
	CreatedAt time.Time         `json:"created_at,omitzero"`
	UpdatedAt time.Time         `json:"updated_at,omitzero"`
}

// AvailabilityZone returns the zone the aggregate names, or "".
func (a *Aggregate) AvailabilityZone() string { return a.Metadata[AggregateAZKey] }

// BlockDeviceMapping describes one disk of an instance: where it comes
// from (image, volume, snapshot, blank) and where it lives (local or a
// volume).
type BlockDeviceMapping struct {
	ID                  int64     `json:"id,omitempty"`
	UUID                string    `json:"uuid"`
	InstanceUUID        string    `json:"instance_uuid"`
	BootIndex           *int      `json:"boot_index,omitempty"` // nil: not bootable
	SourceType          string    `json:"source_type"`          // image, volume, snapshot, blank
	DestinationType     string    `json:"destination_type"`     // local, volume
	ImageID             string    `json:"image_id,omitempty"`
	VolumeID            string    `json:"volume_id,omitempty"`
	SnapshotID          string    `json:"snapshot_id,omitempty"`
	VolumeSize          int       `json:"volume_size,omitempty"`
	VolumeType          string    `json:"volume_type,omitempty"`
	DeviceName          string    `json:"device_name,omitempty"`
	DeviceType          string    `json:"device_type,omitempty"`
	DiskBus             string    `json:"disk_bus,omitempty"`
	GuestFormat         string    `json:"guest_format,omitempty"`
	DeleteOnTermination bool      `json:"delete_on_termination"`
	Tag                 string    `json:"tag,omitempty"`
	AttachmentID        string    `json:"attachment_id,omitempty"`
	ConnectionInfo      string    `json:"connection_info,omitempty"` // JSON
	CreatedAt           time.Time `json:"created_at,omitzero"`
}

// Quota resources and Nova's default limits. -1 means unlimited.
const (
	QuotaInstances          = "instances"
	QuotaCores              = "cores"
	QuotaRAM                = "ram"
	QuotaMetadataItems      = "metadata_items"
	QuotaKeyPairs           = "key_pairs"
	QuotaServerGroups       = "server_groups"
	QuotaServerGroupMembers = "server_group_members"
)

// DefaultQuotas returns Nova's default per-project limits (a new map each
// call).
func DefaultQuotas() map[string]int {
	return map[string]int{
		QuotaInstances: 10, QuotaCores: 20, QuotaRAM: 51200, QuotaMetadataItems: 128,
		QuotaKeyPairs: 100, QuotaServerGroups: 10, QuotaServerGroupMembers: 10,
	}
}

// Quota is one limit set for a project (and, when UserID is set, for one
// user in it). Limits not set fall back to the defaults.
type Quota struct {
	ProjectID string `json:"project_id"`
	UserID    string `json:"user_id,omitempty"`
	Resource  string `json:"resource"`
	HardLimit int    `json:"hard_limit"`
}
