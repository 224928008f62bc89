package compute

import (
	"encoding/binary"
	"fmt"
)

// Handle is a driver's opaque, versioned reference to one guest. [Hypervisor.Spawn]
// (and the moves that create a guest on a new host) return it; the compute
// agent stores it, encoded by [Handle.Encode], in [Instance.DriverHandle] and
// hands it back in every later call through [Guest], so that a driver can
// find its guest again after the agent restarts (see [Recoverer]).
//
// The control plane never looks inside Data. Version is the driver's own
// format number for Data, starting at 1: a driver that changes what it keeps
// bumps it and keeps reading the older versions (or returns an error
// satisfying [ErrInvalidInput] for versions it no longer knows). The zero
// Handle (Version 0) means "no handle": the agent lost it, or the guest
// predates it; drivers must then find the guest by its UUID alone.
//
// A Handle holds no secrets: it is stored in the database in clear.
type Handle struct {
	Version int
	Data    []byte
}

// IsZero reports whether h is the zero Handle ("no handle").
func (h Handle) IsZero() bool { return h.Version == 0 && len(h.Data) == 0 }

// Encode returns the bytes stored in [Instance.DriverHandle]: the version as
// an unsigned varint followed by Data. The zero Handle encodes to nil.
func (h Handle) Encode() []byte {
	if h.IsZero() {
		return nil
	}
	b := make([]byte, 0, binary.MaxVarintLen64+len(h.Data))
	b = binary.AppendUvarint(b, uint64(h.Version))
	return append(b, h.Data...)
}

// MarshalBinary implements encoding.BinaryMarshaler with [Handle.Encode].
func (h Handle) MarshalBinary() ([]byte, error) { return h.Encode(), nil }

// UnmarshalBinary implements encoding.BinaryUnmarshaler with [DecodeHandle].
func (h *Handle) UnmarshalBinary(b []byte) error {
	d, err := DecodeHandle(b)
	if err != nil {
		return err
	}
	*h = d
	return nil
}

// DecodeHandle reverses [Handle.Encode]. Empty input gives the zero Handle;
// malformed input an error satisfying [ErrInvalidInput]. Data is a copy: the
// caller may reuse b.
func DecodeHandle(b []byte) (Handle, error) {
	if len(b) == 0 {
		return Handle{}, nil
	}
	v, n := binary.Uvarint(b)
	if n <= 0 || v == 0 || v > 1<<31 {
		return Handle{}, InvalidInput("driver_handle", "malformed handle (%d bytes)", len(b))
	}
	h := Handle{Version: int(v)}
	if rest := b[n:]; len(rest) > 0 {
		h.Data = append([]byte(nil), rest...)
	}
	return h, nil
}

// String returns a short description for logs (the version and data size,
// never the data).
func (h Handle) String() string {
	if h.IsZero() {
		return "handle(none)"
	}
	return fmt.Sprintf("handle(v%d, %d bytes)", h.Version, len(h.Data))
}

// Guest names a guest to a driver: the instance's UUID, always set, and the
// Handle that the driver returned for it, when the agent has one. Drivers
// find the guest by the Handle when it is set and by the UUID otherwise; a
// Handle that names another guest than UUID is an error satisfying
// [ErrInvalidInput].
type Guest struct {
	UUID   string
	Handle Handle
}

// GuestOf returns the Guest of a stored instance: its UUID and its decoded
// DriverHandle (the zero Handle when the stored one is missing or
// malformed — drivers then look the guest up by UUID).
func GuestOf(inst *Instance) Guest {
	h, _ := DecodeHandle(inst.DriverHandle)
	return Guest{UUID: inst.UUID, Handle: h}
}
