package scheduler

import (
	"slices"
	"strconv"
	"strings"

	"github.com/novakit/novakit/compute"
)

// PCIPool is a pool of identical PCI devices on a host, as the compute
// agent reports them (in the compute node's stats under [StatPCIStats], as a
// JSON list): Nova's PciDeviceStats pools.
type PCIPool struct {
	VendorID   string `json:"vendor_id"`
	ProductID  string `json:"product_id"`
	DeviceType string `json:"dev_type,omitempty"` // type-PCI, type-PF, type-VF
	// NUMANode is the host NUMA node of the devices; nil if unknown.
	NUMANode *int              `json:"numa_node,omitempty"`
	Count    int               `json:"count"`
	Tags     map[string]string `json:"tags,omitempty"` // physical_network, trusted …
}

// PCIRequest asks for Count devices matching Spec (one alias of the
// flavor's pci_passthrough:alias).
type PCIRequest struct {
	Alias      string
	Count      int
	Spec       map[string]string
	NUMAPolicy string
}

// pciRequests parses the flavor extra spec pci_passthrough:alias
// ("alias1:2,alias2:1") against the configured aliases.
func pciRequests(f *compute.Flavor, aliases map[string]PCIAlias) ([]PCIRequest, error) {
	v := f.ExtraSpecs["pci_passthrough:alias"]
	if v == "" {
		return nil, nil
	}
	var out []PCIRequest
	for _, part := range strings.Split(v, ",") {
		name, cnt, ok := strings.Cut(strings.TrimSpace(part), ":")
		n, err := strconv.Atoi(strings.TrimSpace(cnt))
		if !ok || err != nil || n < 1 || name == "" {
			return nil, compute.InvalidInput("pci_passthrough:alias", "%q is not alias:count", part)
		}
		a, ok := aliases[name]
		if !ok {
			return nil, compute.InvalidInput("pci_passthrough:alias", "PCI alias %q is not defined", name)
		}
		out = append(out, PCIRequest{Alias: name, Count: n, Spec: a.Spec, NUMAPolicy: a.NUMAPolicy})
	}
	return out, nil
}

// matches reports whether the pool satisfies every key of spec: vendor_id
// and product_id (hex, case-insensitive, "*" for any), device_type against
// the pool's type, anything else against the pool's tags.
func (p *PCIPool) matches(spec map[string]string) bool {
	for k, want := range spec {
		var have string
		switch k {
		case "vendor_id":
			have = p.VendorID
		case "product_id":
			have = p.ProductID
		case "device_type", "dev_type":
			have = p.DeviceType
		default:
			have = p.Tags[k]
		}
		if want == "*" {
			continue
		}
		if !strings.EqualFold(strings.TrimPrefix(have, "0x"), strings.TrimPrefix(want, "0x")) {
			return false
		}
	}
	return true
}

// pciFit reports whether the pools can satisfy every request together and
// returns how many devices each pool gives (nil when they cannot). cells,
// when non-nil, are the host NUMA cells the instance landed on: requests
// whose alias policy is "required" then only use pools on those cells.
// With no requests it returns an empty, non-nil slice.
func pciFit(pools []PCIPool, reqs []PCIRequest, cells []int) []int {
	take := make([]int, len(pools))
	for _, r := range reqs {
		need := r.Count
		for i := range pools {
			if need == 0 {
				break
			}
			p := &pools[i]
			free := p.Count - take[i]
			if free <= 0 || !p.matches(r.Spec) {
				continue
			}
			if cells != nil && r.NUMAPolicy == "required" && (p.NUMANode == nil || !slices.Contains(cells, *p.NUMANode)) {
				continue
			}
			n := min(need, free)
			take[i] += n
			need -= n
		}
		if need > 0 {
			return nil
		}
	}
	return take
}

func freePCI(pools []PCIPool) int {
	n := 0
	for i := range pools {
		n += pools[i].Count
	}
	return n
}
