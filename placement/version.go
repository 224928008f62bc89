package placement

import (
	"fmt"
	"strconv"
	"strings"
)

// Version is a Placement API microversion, "1.39" for example. The zero value
// is 0.0, which is below every supported version. Version is a comparable
// value type, safe to copy and share.
type Version struct {
	Major, Minor int
}

// MinVersion returns the oldest microversion this package implements, 1.0.
func MinVersion() Version { return Version{1, 0} }

// MaxVersion returns the newest microversion this package implements, 1.39.
func MaxVersion() Version { return Version{1, 39} }

// ParseVersion parses "X.Y" (decimal, no sign, no leading '+') or "latest"
// (MaxVersion). It does not check the version is supported; see
// Version.Supported. Errors match ErrInvalid.
func ParseVersion(s string) (Version, error) {
	s = strings.TrimSpace(s)
	if s == "latest" {
		return MaxVersion(), nil
	}
	maj, min, ok := strings.Cut(s, ".")
	if !ok || !digits(maj) || !digits(min) {
		return Version{}, invalid("version", "invalid microversion %q", s)
	}
	a, err1 := strconv.Atoi(maj)
	b, err2 := strconv.Atoi(min)
	if err1 != nil || err2 != nil {
		return Version{}, invalid("version", "invalid microversion %q", s)
	}
	return Version{a, b}, nil
}

func digits(s string) bool {
	if s == "" || len(s) > 6 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// String formats v as "X.Y".
func (v Version) String() string { return fmt.Sprintf("%d.%d", v.Major, v.Minor) }

// Compare returns -1, 0 or +1 as v is older than, equal to or newer than w.
func (v Version) Compare(w Version) int {
	switch {
	case v.Major != w.Major:
		if v.Major < w.Major {
			return -1
		}
		return 1
	case v.Minor < w.Minor:
		return -1
	case v.Minor > w.Minor:
		return 1
	}
	return 0
}

// AtLeast reports whether v is 1.minor or newer (Placement's
// "want_version.matches((1, minor))").
func (v Version) AtLeast(minor int) bool { return v.Compare(Version{1, minor}) >= 0 }

// Supported reports whether MinVersion ≤ v ≤ MaxVersion.
func (v Version) Supported() bool {
	return v.Compare(MinVersion()) >= 0 && v.Compare(MaxVersion()) <= 0
}
