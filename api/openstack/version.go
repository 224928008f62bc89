package openstack

import (
	"fmt"
	"strconv"
	"strings"
)

// Version is a compute API microversion 2.Minor.
type Version struct{ Major, Minor int }

// The microversions this API serves: 2.1 up to 2.96 (Nova 2024.1/2024.2).
var (
	MinVersion = Version{2, 1}
	MaxVersion = Version{2, 96}
)

func (v Version) String() string { return fmt.Sprintf("%d.%d", v.Major, v.Minor) }

// AtLeast reports whether v >= 2.minor.
func (v Version) AtLeast(minor int) bool { return v.Major > 2 || (v.Major == 2 && v.Minor >= minor) }

// Less reports whether v < w.
func (v Version) Less(w Version) bool {
	return v.Major < w.Major || (v.Major == w.Major && v.Minor < w.Minor)
}

// ParseVersion parses "2.X" or "latest" (which is MaxVersion).
func ParseVersion(s string) (Version, error) {
	s = strings.TrimSpace(s)
	if strings.EqualFold(s, "latest") {
		return MaxVersion, nil
	}
	maj, min, ok := strings.Cut(s, ".")
	if !ok {
		return Version{}, fmt.Errorf("API Version String %s is of invalid format. Must be of format MajorNum.MinorNum.", s)
	}
	a, err1 := strconv.Atoi(maj)
	b, err2 := strconv.Atoi(min)
	if err1 != nil || err2 != nil || a < 0 || b < 0 || strings.HasPrefix(min, "+") || strings.HasPrefix(maj, "+") {
		return Version{}, fmt.Errorf("API Version String %s is of invalid format. Must be of format MajorNum.MinorNum.", s)
	}
	return Version{a, b}, nil
}

// requestedVersion reads the version headers: OpenStack-API-Version
// ("compute 2.X", possibly among other services, comma separated) wins
// over X-OpenStack-Nova-API-Version. ok is false when neither names one.
func requestedVersion(newHdr []string, legacy string) (string, bool) {
	for _, h := range newHdr {
		for _, part := range strings.Split(h, ",") {
			f := strings.Fields(part)
			if len(f) == 2 && strings.EqualFold(f[0], "compute") {
				return f[1], true
			}
		}
	}
	if legacy != "" {
		return legacy, true
	}
	return "", false
}
