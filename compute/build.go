package compute

import "encoding/json"

// BuildRequest is what the API hands the conductor to schedule and build
// the instances of one create request (Nova's schedule_and_build_instances).
// The API has already stored every instance (vm_state building, task_state
// scheduling), its request spec and block device mappings, and checked
// quota; the conductor owns everything after that. A BuildRequest travels
// over the queue as JSON and must stay self-contained.
type BuildRequest struct {
	// RequestID is the API request id (req-…), recorded on instance actions.
	RequestID string `json:"request_id"`
	// InstanceUUIDs are the instances of the request, in creation order
	// (multi-create has several; they share Spec).
	InstanceUUIDs []string `json:"instance_uuids"`
	// Spec is the request spec (NumInstances == len(InstanceUUIDs)).
	Spec *RequestSpec `json:"request_spec"`
	// AdminPassword is the password to set in the guests, if any. It is
	// never stored or logged.
	AdminPassword string `json:"admin_password,omitempty"`
	// InjectedFiles are the API's "personality" files.
	InjectedFiles []InjectedFile `json:"injected_files,omitempty"`
	// Networks are the requested networks/ports ("auto", "none" or
	// explicit), as the API validated them.
	Networks []RequestedNetwork `json:"networks,omitempty"`
	// BlockDevices are the block device mappings per instance uuid.
	BlockDevices map[string][]BlockDeviceMapping `json:"block_devices,omitempty"`
	// Tags to set on the instances once they are built (2.52+).
	Tags []string `json:"tags,omitempty"`
}

// RequestedNetwork is one entry of the API's "networks" list.
type RequestedNetwork struct {
	NetworkID string `json:"network_id,omitempty"`
	PortID    string `json:"port_id,omitempty"`
	FixedIP   string `json:"fixed_ip,omitempty"`
	Tag       string `json:"tag,omitempty"`
	// Auto or None stand for the strings "auto" and "none" (2.37+).
	Auto bool `json:"auto,omitempty"`
	None bool `json:"none,omitempty"`
}

// Selection is one host the scheduler chose for an instance, or one of its
// alternates (Nova's Selection object). The first Selection of a list is
// the chosen host, claimed in placement by the scheduler; the others are
// alternates whose allocation requests the conductor claims itself when it
// reschedules.
type Selection struct {
	ServiceHost     string `json:"service_host"`
	Nodename        string `json:"nodename"`
	ComputeNodeUUID string `json:"compute_node_uuid"`
	CellUUID        string `json:"cell_uuid,omitempty"`
	// Limits are the oversubscription limits the host must respect
	// (NUMA, PCI), if any.
	Limits map[string]float64 `json:"limits,omitempty"`
	// AllocationRequest is placement's allocation request for this host,
	// as returned by GET /allocation_candidates in
	// AllocationRequestVersion: {"allocations": {rp_uuid: {"resources":
	// {...}}}, "mappings": {...}}. Claiming PUTs it as the consumer's
	// allocations.
	AllocationRequest        json.RawMessage `json:"allocation_request,omitempty"`
	AllocationRequestVersion string          `json:"allocation_request_version,omitempty"`
	AvailabilityZone         string          `json:"availability_zone,omitempty"`
}
