package scheduler

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Options are the scheduler's settings, named after Nova's [scheduler],
// [filter_scheduler], [metrics] and [pci] options. The zero value of a
// field means Nova's default (see [DefaultOptions]); use negative values
// or the explicit fields where Nova's default is not zero.
type Options struct {
	// MaxAttempts is [scheduler]max_attempts (default 3): each instance
	// gets the chosen host and up to MaxAttempts-1 alternates.
	MaxAttempts int
	// MaxPlacementResults is [scheduler]max_placement_results (default
	// 1000): the limit sent with the allocation-candidate query.
	MaxPlacementResults int
	// LimitTenantsToPlacementAggregate, PlacementAggregateRequiredForTenants,
	// EnableIsolatedAggregateFiltering, QueryPlacementForImageTypeSupport
	// and ImageMetadataPrefilter switch on the request filters of the same
	// names (all off by default, as in Nova).
	LimitTenantsToPlacementAggregate     bool
	PlacementAggregateRequiredForTenants bool
	EnableIsolatedAggregateFiltering     bool
	QueryPlacementForImageTypeSupport    bool
	ImageMetadataPrefilter               bool
	// QueryPlacementForRoutedNetworkAggregates is accepted for
	// compatibility but not implemented yet: setting it makes New fail,
	// rather than silently ignoring it.
	QueryPlacementForRoutedNetworkAggregates bool

	// HostSubsetSize is [filter_scheduler]host_subset_size (default 1):
	// the chosen host is drawn among the best HostSubsetSize hosts.
	HostSubsetSize int
	// MaxIOOpsPerHost (default 8) and MaxInstancesPerHost (default 50)
	// are the IoOpsFilter and NumInstancesFilter limits.
	MaxIOOpsPerHost     int
	MaxInstancesPerHost int
	// EnabledFilters names the filters to run, in order (default Nova's:
	// ComputeFilter, ComputeCapabilitiesFilter, ImagePropertiesFilter,
	// ServerGroupAntiAffinityFilter, ServerGroupAffinityFilter). Names are
	// looked up in the Registry.
	EnabledFilters []string
	// Weighers names the weighers to use ([filter_scheduler]weight_classes;
	// default every registered weigher).
	Weighers []string
	// Multipliers overrides weigher multipliers by option name
	// ("ram_weight_multiplier": -1 …); missing keys keep the defaults of
	// [DefaultMultipliers]. Aggregate metadata with the same key overrides
	// them per host (the minimum over the host's aggregates wins).
	Multipliers map[string]float64
	// IsolatedAggregateNamespace and Separator are
	// aggregate_image_properties_isolation_namespace/_separator (default
	// "" and ".").
	AggregateImagePropertiesIsolationNamespace string
	AggregateImagePropertiesIsolationSeparator string

	// MetricsWeightSetting is [metrics]weight_setting ("name=ratio, …").
	MetricsWeightSetting string
	// MetricsRequired is [metrics]required (Nova's default true: use
	// MetricsNotRequired to turn it off).
	MetricsNotRequired bool
	// MetricsWeightOfUnavailable is [metrics]weight_of_unavailable
	// (default -10000).
	MetricsWeightOfUnavailable *float64

	// PCIAliases are the [pci]alias entries by name, which flavor extra
	// spec pci_passthrough:alias refers to.
	PCIAliases map[string]PCIAlias

	// ServiceDownTime is [DEFAULT]service_down_time (default 60 s).
	ServiceDownTime time.Duration
	// RefreshInterval bounds how stale the host-state cache may get: a
	// request finding it older refreshes it incrementally first (default
	// 10 s). Run refreshes it in the background at this interval.
	RefreshInterval time.Duration
	// CandidateCacheTTL, when positive, lets requests with an identical
	// placement query (same resources, traits, aggregates, limit) reuse
	// the allocation candidates fetched within the TTL. Claims still go to
	// placement, which refuses any that no longer fit, so this trades a
	// little placement accuracy (newly freed hosts appear later) for
	// throughput. Default 0: every request asks placement, as Nova does.
	CandidateCacheTTL time.Duration

	// Now returns the current time (nil: time.Now).
	Now func() time.Time
}

// PCIAlias is one [pci]alias entry: the device spec that flavors ask for by
// name, and its NUMA affinity policy.
type PCIAlias struct {
	// Spec matches device pools: vendor_id, product_id, device_type
	// (type-PCI, type-PF, type-VF) and any pool tag.
	Spec map[string]string
	// NUMAPolicy is required, legacy, preferred or socket (recorded; the
	// filter applies "required" strictly and treats the others as
	// preferred).
	NUMAPolicy string
}

// DefaultEnabledFilters is Nova's [filter_scheduler]enabled_filters default.
var defaultEnabledFilters = []string{
	"ComputeFilter", "ComputeCapabilitiesFilter", "ImagePropertiesFilter",
	"ServerGroupAntiAffinityFilter", "ServerGroupAffinityFilter",
}

// DefaultEnabledFilters returns Nova's default enabled_filters (a new
// slice each call).
func DefaultEnabledFilters() []string { return append([]string(nil), defaultEnabledFilters...) }

// DefaultMultipliers returns Nova's default weigher multipliers by option
// name (a new map each call).
func DefaultMultipliers() map[string]float64 {
	return map[string]float64{
		"ram_weight_multiplier":                1.0,
		"cpu_weight_multiplier":                1.0,
		"disk_weight_multiplier":               1.0,
		"io_ops_weight_multiplier":             -1.0,
		"num_instances_weight_multiplier":      0.0,
		"pci_weight_multiplier":                1.0,
		"soft_affinity_weight_multiplier":      1.0,
		"soft_anti_affinity_weight_multiplier": 1.0,
		"build_failure_weight_multiplier":      1000000.0,
		"cross_cell_move_weight_multiplier":    1000000.0,
		"hypervisor_version_weight_multiplier": 1.0,
		"metrics_weight_multiplier":            1.0,
	}
}

// DefaultOptions returns Options with every default filled in.
func DefaultOptions() Options {
	var o Options
	return o.withDefaults()
}

func (o Options) withDefaults() Options {
	if o.MaxAttempts == 0 {
		o.MaxAttempts = 3
	}
	if o.MaxPlacementResults == 0 {
		o.MaxPlacementResults = 1000
	}
	if o.HostSubsetSize == 0 {
		o.HostSubsetSize = 1
	}
	if o.MaxIOOpsPerHost == 0 {
		o.MaxIOOpsPerHost = 8
	}
	if o.MaxInstancesPerHost == 0 {
		o.MaxInstancesPerHost = 50
	}
	if o.EnabledFilters == nil {
		o.EnabledFilters = DefaultEnabledFilters()
	}
	m := DefaultMultipliers()
	for k, v := range o.Multipliers {
		m[k] = v
	}
	o.Multipliers = m
	if o.AggregateImagePropertiesIsolationSeparator == "" {
		o.AggregateImagePropertiesIsolationSeparator = "."
	}
	if o.MetricsWeightOfUnavailable == nil {
		v := -10000.0
		o.MetricsWeightOfUnavailable = &v
	}
	if o.ServiceDownTime == 0 {
		o.ServiceDownTime = 60 * time.Second
	}
	if o.RefreshInterval == 0 {
		o.RefreshInterval = 10 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Validate reports the first unusable setting, naming it.
func (o Options) Validate() error {
	switch {
	case o.MaxAttempts < 0:
		return fmt.Errorf("scheduler: max_attempts must be at least 1, got %d", o.MaxAttempts)
	case o.MaxPlacementResults < 0:
		return fmt.Errorf("scheduler: max_placement_results must be at least 1, got %d", o.MaxPlacementResults)
	case o.HostSubsetSize < 0:
		return fmt.Errorf("scheduler: host_subset_size must be at least 1, got %d", o.HostSubsetSize)
	case o.MaxIOOpsPerHost < 0:
		return fmt.Errorf("scheduler: max_io_ops_per_host must not be negative, got %d", o.MaxIOOpsPerHost)
	case o.MaxInstancesPerHost < 0:
		return fmt.Errorf("scheduler: max_instances_per_host must not be negative, got %d", o.MaxInstancesPerHost)
	case o.ServiceDownTime < 0:
		return fmt.Errorf("scheduler: service_down_time must not be negative")
	case o.RefreshInterval < 0:
		return fmt.Errorf("scheduler: refresh interval must not be negative")
	case o.CandidateCacheTTL < 0:
		return fmt.Errorf("scheduler: candidate cache TTL must not be negative")
	case o.QueryPlacementForRoutedNetworkAggregates:
		return fmt.Errorf("scheduler: query_placement_for_routed_network_aggregates (routed_networks_filter) is not implemented yet")
	}
	if _, err := parseWeightSetting(o.MetricsWeightSetting); err != nil {
		return err
	}
	return nil
}

type metricWeight struct {
	name  string
	ratio float64
}

// parseWeightSetting parses [metrics]weight_setting: "name1=1.0, name2=-1.0".
func parseWeightSetting(s string) ([]metricWeight, error) {
	var out []metricWeight
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, val, ok := strings.Cut(part, "=")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			return nil, fmt.Errorf("scheduler: metrics weight_setting: %q is not name=ratio", part)
		}
		r, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err != nil {
			return nil, fmt.Errorf("scheduler: metrics weight_setting: ratio of %q: %w", name, err)
		}
		out = append(out, metricWeight{name, r})
	}
	return out, nil
}
