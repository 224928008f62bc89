package placement

import (
	"math"
	"time"
)

// MaxInt is Placement's MAX_INT (2^31−1), the default max_unit and the
// upper bound of every integer inventory field.
const MaxInt = math.MaxInt32

// Consumer types (microversion 1.38); any [A-Z0-9_]+ name is allowed.
const (
	ConsumerTypeInstance  = "INSTANCE"
	ConsumerTypeMigration = "MIGRATION"
	// ConsumerTypeUnknown is what consumers written without a type report.
	ConsumerTypeUnknown = "unknown"
)

// IncompleteConsumerID is the project and user id Placement records for
// consumers written without them (before microversion 1.8).
const IncompleteConsumerID = "00000000-0000-0000-0000-000000000000"

// ResourceProvider is one node of a provider tree. Values are snapshots:
// modifying one changes nothing in an Index.
type ResourceProvider struct {
	UUID       string
	Name       string
	Generation int64
	// ParentUUID is empty for a root provider.
	ParentUUID string
	// RootUUID equals UUID for a root provider.
	RootUUID  string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Inventory is what a provider offers of one resource class.
type Inventory struct {
	Total           int64
	Reserved        int64
	MinUnit         int64
	MaxUnit         int64
	StepSize        int64
	AllocationRatio float64
}

// NewInventory returns an inventory of total units with Placement's API
// defaults: reserved 0, min_unit 1, max_unit MaxInt, step_size 1, ratio 1.0.
func NewInventory(total int64) Inventory {
	return Inventory{Total: total, MinUnit: 1, MaxUnit: MaxInt, StepSize: 1, AllocationRatio: 1}
}

// Capacity is int((total − reserved) × allocation_ratio), as Placement
// computes it.
func (inv Inventory) Capacity() int64 {
	return int64(float64(inv.Total-inv.Reserved) * inv.AllocationRatio)
}

// Fits reports whether amount more units fit on top of used: min_unit ≤
// amount ≤ max_unit, amount a multiple of step_size and used+amount ≤
// capacity.
func (inv Inventory) Fits(used, amount int64) bool {
	return amount >= inv.MinUnit && amount <= inv.MaxUnit && inv.StepSize > 0 &&
		amount%inv.StepSize == 0 && used+amount <= inv.Capacity()
}

// Validate checks field ranges as Placement's schema does (total 1..MaxInt,
// reserved 0..MaxInt, min_unit/max_unit/step_size 1..MaxInt, ratio ≥ 0 and
// finite) and reserved ≤ total (the 1.26 rule; the REST layer refuses
// reserved == total below 1.26). Errors match ErrInvalid.
func (inv Inventory) Validate(class string) error {
	f := "inventories." + class
	switch {
	case inv.Total < 1 || inv.Total > MaxInt:
		return invalid(f+".total", "total must be between 1 and %d, got %d", MaxInt, inv.Total)
	case inv.Reserved < 0 || inv.Reserved > MaxInt:
		return invalid(f+".reserved", "reserved must be between 0 and %d, got %d", MaxInt, inv.Reserved)
	case inv.MinUnit < 1 || inv.MinUnit > MaxInt:
		return invalid(f+".min_unit", "min_unit must be between 1 and %d, got %d", MaxInt, inv.MinUnit)
	case inv.MaxUnit < 1 || inv.MaxUnit > MaxInt:
		return invalid(f+".max_unit", "max_unit must be between 1 and %d, got %d", MaxInt, inv.MaxUnit)
	case inv.StepSize < 1 || inv.StepSize > MaxInt:
		return invalid(f+".step_size", "step_size must be between 1 and %d, got %d", MaxInt, inv.StepSize)
	case !(inv.AllocationRatio >= 0) || math.IsInf(inv.AllocationRatio, 0) || inv.AllocationRatio > math.MaxFloat32:
		return invalid(f+".allocation_ratio", "allocation_ratio must be a non-negative number, got %v", inv.AllocationRatio)
	case inv.Reserved > inv.Total:
		return invalid(f+".reserved", "reserved (%d) exceeds total (%d)", inv.Reserved, inv.Total)
	}
	return nil
}

// ProviderSpec describes a provider to create. An empty UUID is generated.
type ProviderSpec struct {
	UUID       string
	Name       string
	ParentUUID string
}

// ProviderUpdate describes PUT /resource_providers/{uuid}.
type ProviderUpdate struct {
	Name string
	// SetParent requests a parent change to ParentUUID ("" = make it a root).
	SetParent  bool
	ParentUUID string
	// AllowReparenting enables the 1.37 rules: moving a provider to another
	// parent or making it a root. Without it only a root may gain a parent.
	AllowReparenting bool
}

// ConsumerAllocations is the desired complete set of allocations of one
// consumer, as in the body of PUT /allocations/{consumer} or one entry of
// POST /allocations.
type ConsumerAllocations struct {
	// Project and User are required; the REST layer substitutes
	// IncompleteConsumerID for requests older than 1.8.
	Project      string
	User         string
	ConsumerType string // "" = ConsumerTypeUnknown for a new consumer, unchanged for an existing one
	// Generation is the consumer generation the caller last saw; nil means
	// "the consumer must not exist yet".
	Generation *int64
	// SkipGenerationCheck gives pre-1.28 semantics (no consumer generation).
	SkipGenerationCheck bool
	// Allocations maps provider uuid → resource class → amount (≥ 1).
	// Empty means "delete every allocation of this consumer".
	Allocations map[string]map[string]int64
}

// ProviderAllocation is a consumer's allocation on one provider.
type ProviderAllocation struct {
	// Generation is the provider's generation when the view was taken.
	Generation int64
	Resources  map[string]int64
}

// Consumer is what GET /allocations/{consumer} shows.
type Consumer struct {
	UUID         string
	Project      string
	User         string
	ConsumerType string
	Generation   int64
	Allocations  map[string]ProviderAllocation
}

// UsageFilter selects consumers for Usages. Project is required.
type UsageFilter struct {
	Project      string
	User         string
	ConsumerType string // "" or "all": every type; "unknown": untyped consumers
}

// Usage is the summed allocations of the consumers of one type.
type Usage struct {
	ConsumerType  string
	ConsumerCount int
	Resources     map[string]int64
}
