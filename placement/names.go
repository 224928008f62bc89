package placement

import (
	"slices"
	"sort"
)

// standardResourceClasses mirrors os-resource-classes (STANDARDS, in its
// order, which fixes their internal ids); read-only.
var standardResourceClasses = [...]string{
	"VCPU", "MEMORY_MB", "DISK_GB", "PCI_DEVICE", "SRIOV_NET_VF", "NUMA_SOCKET",
	"NUMA_CORE", "NUMA_THREAD", "NUMA_MEMORY_MB", "IPV4_ADDRESS", "VGPU",
	"VGPU_DISPLAY_HEAD", "NET_BW_EGR_KILOBIT_PER_SEC", "NET_BW_IGR_KILOBIT_PER_SEC",
	"PCPU", "MEM_ENCRYPTION_CONTEXT", "FPGA", "PGPU",
	"NET_PACKET_RATE_KILOPACKET_PER_SEC", "NET_PACKET_RATE_EGR_KILOPACKET_PER_SEC",
	"NET_PACKET_RATE_IGR_KILOPACKET_PER_SEC",
}

// Well-known names.
const (
	// TraitSharesViaAggregate marks a provider whose inventory is shared with
	// every tree it has an aggregate in common with.
	TraitSharesViaAggregate = "MISC_SHARES_VIA_AGGREGATE"
	// CustomPrefix starts every custom resource class and trait name.
	CustomPrefix = "CUSTOM_"
	// OSTraitsVersion is the os-traits release whose names StandardTraits
	// returns.
	OSTraitsVersion = osTraitsVersion
)

// StandardResourceClasses returns a fresh copy of the os-resource-classes
// standard names.
func StandardResourceClasses() []string { return slices.Clone(standardResourceClasses[:]) }

// IsStandardResourceClass reports whether name is a standard resource class.
func IsStandardResourceClass(name string) bool {
	return slices.Contains(standardResourceClasses[:], name)
}

// StandardTraits returns a fresh, sorted copy of the os-traits names.
func StandardTraits() []string { return slices.Clone(standardTraits[:]) }

// IsStandardTrait reports whether name is an os-traits standard trait.
func IsStandardTrait(name string) bool {
	i := sort.SearchStrings(standardTraits[:], name)
	return i < len(standardTraits) && standardTraits[i] == name
}

// IsCustomName reports whether name matches CUSTOM_[A-Z0-9_]+, the syntax
// of custom resource classes and traits.
func IsCustomName(name string) bool {
	if len(name) <= len(CustomPrefix) || len(name) > 255 || name[:len(CustomPrefix)] != CustomPrefix {
		return false
	}
	return upperName(name[len(CustomPrefix):])
}

func upperName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// ValidateResourceClassName returns nil when name is a standard resource
// class or a syntactically valid custom one (which may not exist yet), and an
// ErrInvalid error otherwise.
func ValidateResourceClassName(name string) error {
	if IsStandardResourceClass(name) || IsCustomName(name) {
		return nil
	}
	return invalid("resource_class", "invalid resource class name %q: not standard and not CUSTOM_[A-Z0-9_]+", name)
}

// ValidateTraitName returns nil when name is an os-traits standard trait or a
// syntactically valid custom one, and an ErrInvalid error otherwise.
func ValidateTraitName(name string) error {
	if IsStandardTrait(name) || IsCustomName(name) {
		return nil
	}
	return invalid("trait", "invalid trait name %q: not standard and not CUSTOM_[A-Z0-9_]+", name)
}

// isUUIDLike mirrors oslo's is_uuid_like: 32 hex digits, optionally with the
// four dashes of the canonical form (any case).
func isUUIDLike(s string) bool {
	h := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f', c >= 'A' && c <= 'F':
			h++
		case c == '-':
		default:
			return false
		}
	}
	if h != 32 {
		return false
	}
	if len(s) == 32 {
		return true
	}
	return len(s) == 36 && s[8] == '-' && s[13] == '-' && s[18] == '-' && s[23] == '-'
}
