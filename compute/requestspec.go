package compute

// ImageMeta is what the scheduler and drivers need to know about the
// image an instance boots from: its id, sizes and properties
// (hw_disk_bus, hw_machine_type, os_type, trait:…).
type ImageMeta struct {
	ID              string            `json:"id,omitempty"`
	Name            string            `json:"name,omitempty"`
	DiskFormat      string            `json:"disk_format,omitempty"`
	ContainerFormat string            `json:"container_format,omitempty"`
	MinRAMMB        int               `json:"min_ram,omitempty"`
	MinDiskGB       int               `json:"min_disk,omitempty"`
	Size            int64             `json:"size,omitempty"`
	Properties      map[string]string `json:"properties,omitempty"`
}

// RequestGroup is one group of resources and traits that must come from
// one resource provider (or, unnumbered, from the tree as a whole), as
// placement's numbered request groups express it.
type RequestGroup struct {
	// Suffix is the group's suffix ("" for the unnumbered group, "1",
	// "_NET" …).
	Suffix          string           `json:"suffix,omitempty"`
	Resources       map[string]int64 `json:"resources,omitempty"`
	RequiredTraits  []string         `json:"required_traits,omitempty"`
	ForbiddenTraits []string         `json:"forbidden_traits,omitempty"`
	// AnyTraits: each inner list is an any-of set (required=in:A,B).
	AnyTraits [][]string `json:"any_traits,omitempty"`
	// MemberOf: each inner list is an any-of set of aggregate uuids;
	// all sets must match.
	MemberOf      [][]string `json:"member_of,omitempty"`
	ForbiddenAggs []string   `json:"forbidden_aggregates,omitempty"`
	InTree        string     `json:"in_tree,omitempty"`
	ProviderUUIDs []string   `json:"provider_uuids,omitempty"`
	RequesterID   string     `json:"requester_id,omitempty"`
}

// Destination narrows where a request may go: a host and node asked for
// by an admin, and aggregates to land in or avoid.
type Destination struct {
	Host                string   `json:"host,omitempty"`
	Node                string   `json:"node,omitempty"`
	Cell                string   `json:"cell,omitempty"`
	Aggregates          []string `json:"aggregates,omitempty"` // each entry a comma list: any-of
	ForbiddenAggregates []string `json:"forbidden_aggregates,omitempty"`
	AllowCrossCellMove  bool     `json:"allow_cross_cell_move,omitempty"`
}

// RetryInfo carries the hosts an instance was already tried on.
type RetryInfo struct {
	NumAttempts int        `json:"num_attempts"`
	Hosts       [][]string `json:"hosts,omitempty"` // [host, node] pairs
}

// RequestSpec is everything the scheduler needs to place one request of
// one or more instances (Nova's RequestSpec object). The store keeps it
// per instance so that moves and reschedules can reuse it.
type RequestSpec struct {
	InstanceUUID     string    `json:"instance_uuid"`
	ProjectID        string    `json:"project_id"`
	UserID           string    `json:"user_id"`
	Flavor           Flavor    `json:"flavor"`
	Image            ImageMeta `json:"image"`
	NumInstances     int       `json:"num_instances"`
	AvailabilityZone string    `json:"availability_zone,omitempty"`
	// SchedulerHints as the API received them (group, same_host,
	// different_host, query …), every value a list.
	SchedulerHints map[string][]string `json:"scheduler_hints,omitempty"`
	IgnoreHosts    []string            `json:"ignore_hosts,omitempty"`
	ForceHosts     []string            `json:"force_hosts,omitempty"`
	ForceNodes     []string            `json:"force_nodes,omitempty"`
	// RequestedDestination is set for admin-targeted boots and moves.
	RequestedDestination *Destination `json:"requested_destination,omitempty"`
	Retry                *RetryInfo   `json:"retry,omitempty"`
	// InstanceGroup is the server group the instances join, with its
	// members' hosts filled in by the conductor.
	InstanceGroup *ServerGroup `json:"instance_group,omitempty"`
	// IsBFV: the instance boots from a volume, so it asks no root disk.
	IsBFV bool `json:"is_bfv,omitempty"`
	// RequestedResources are extra request groups (ports, accelerators).
	RequestedResources []RequestGroup `json:"requested_resources,omitempty"`
	RootRequired       []string       `json:"root_required,omitempty"`
	RootForbidden      []string       `json:"root_forbidden,omitempty"`
	SameSubtree        [][]string     `json:"same_subtree,omitempty"`
	SecurityGroups     []string       `json:"security_groups,omitempty"`
	// Limits the scheduler passes to the compute host (NUMA, PCI).
	Limits map[string]float64 `json:"limits,omitempty"`
}

// Hint returns the first value of a scheduler hint, or "".
func (r *RequestSpec) Hint(key string) string {
	if v := r.SchedulerHints[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}
