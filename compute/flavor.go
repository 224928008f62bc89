package compute

import "time"

// Flavor is a size of server: Nova's flavors row with its extra specs.
// Instances keep their own copy (Instance.Flavor), so a flavor may change
// or go away without changing running servers.
type Flavor struct {
	// ID is the store's sequence number; FlavorID is the API id (a
	// string: "1", "m1.small" or a uuid).
	ID          int64   `json:"id,omitempty"`
	FlavorID    string  `json:"flavorid"`
	Name        string  `json:"name"`
	VCPUs       int     `json:"vcpus"`
	MemoryMB    int     `json:"memory_mb"`
	RootGB      int     `json:"root_gb"`
	EphemeralGB int     `json:"ephemeral_gb"`
	SwapMB      int     `json:"swap"`
	RXTXFactor  float64 `json:"rxtx_factor"`
	IsPublic    bool    `json:"is_public"`
	Disabled    bool    `json:"disabled,omitempty"`
	Description string  `json:"description,omitempty"`
	// ExtraSpecs are the flavor's key/value extra specs (hw:cpu_policy,
	// resources:VCPU, trait:HW_CPU_X86_AVX2, aggregate_instance_extra_specs:…).
	ExtraSpecs map[string]string `json:"extra_specs,omitempty"`
	CreatedAt  time.Time         `json:"created_at,omitzero"`
	UpdatedAt  time.Time         `json:"updated_at,omitzero"`
}

// DiskGB is the local disk the flavor asks of a host, as placement counts
// it: root + ephemeral + swap rounded up to whole GiB. bootFromVolume
// leaves the root disk out.
func (f *Flavor) DiskGB(bootFromVolume bool) int {
	d := f.EphemeralGB + (f.SwapMB+1023)/1024
	if !bootFromVolume {
		d += f.RootGB
	}
	return d
}

// Validate checks the flavor's own fields (not uniqueness) and returns an
// *InvalidInputError naming the first bad one.
func (f *Flavor) Validate() error {
	switch {
	case f.Name == "" || len(f.Name) > 255:
		return InvalidInput("name", "must be 1 to 255 characters")
	case f.FlavorID == "" || len(f.FlavorID) > 255:
		return InvalidInput("id", "must be 1 to 255 characters")
	case f.VCPUs < 1:
		return InvalidInput("vcpus", "must be at least 1")
	case f.MemoryMB < 1:
		return InvalidInput("ram", "must be at least 1")
	case f.RootGB < 0:
		return InvalidInput("disk", "must be 0 or more")
	case f.EphemeralGB < 0:
		return InvalidInput("OS-FLV-EXT-DATA:ephemeral", "must be 0 or more")
	case f.SwapMB < 0:
		return InvalidInput("swap", "must be 0 or more")
	case f.RXTXFactor < 0:
		return InvalidInput("rxtx_factor", "must be greater than 0")
	}
	return nil
}

// FlavorAccess grants a project the use of a non-public flavor.
type FlavorAccess struct {
	FlavorID  string `json:"flavor_id"`
	ProjectID string `json:"tenant_id"`
}

// KeyPairType is the type of a key pair: "ssh" or "x509".
type KeyPairType string

// Key pair types.
const (
	KeyPairSSH  KeyPairType = "ssh"
	KeyPairX509 KeyPairType = "x509"
)

// KeyPair is a user's public key, injected into guests at boot. Names are
// unique per user.
type KeyPair struct {
	ID          int64       `json:"id,omitempty"`
	Name        string      `json:"name"`
	UserID      string      `json:"user_id"`
	Type        KeyPairType `json:"type"`
	PublicKey   string      `json:"public_key"`
	Fingerprint string      `json:"fingerprint"`
	CreatedAt   time.Time   `json:"created_at,omitzero"`
	UpdatedAt   time.Time   `json:"updated_at,omitzero"`
}
