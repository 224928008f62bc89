package compute_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/novakit/novakit/compute"
)

func TestHandleEncodeDecode(t *testing.T) {
	for _, h := range []compute.Handle{
		{Version: 1, Data: []byte("host1/abc")},
		{Version: 300, Data: []byte{0, 1, 2}},
		{Version: 2},
	} {
		b := h.Encode()
		got, err := compute.DecodeHandle(b)
		if err != nil || !reflect.DeepEqual(got, h) {
			t.Errorf("round trip of %v: %v, %v", h, got, err)
		}
		var u compute.Handle
		m, _ := h.MarshalBinary()
		if err := u.UnmarshalBinary(m); err != nil || !reflect.DeepEqual(u, h) {
			t.Errorf("binary round trip of %v: %v, %v", h, u, err)
		}
		b[len(b)-1] ^= 0xff // Decode copied Data
		if !reflect.DeepEqual(got, h) && len(h.Data) > 0 {
			t.Errorf("DecodeHandle kept the caller's slice")
		}
	}
	if b := (compute.Handle{}).Encode(); b != nil {
		t.Errorf("zero handle encodes to %v", b)
	}
	if h, err := compute.DecodeHandle(nil); err != nil || !h.IsZero() {
		t.Errorf("DecodeHandle(nil) = %v, %v", h, err)
	}
	for _, bad := range [][]byte{{0}, {0x80}, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}} {
		if _, err := compute.DecodeHandle(bad); !errors.Is(err, compute.ErrInvalidInput) {
			t.Errorf("DecodeHandle(%v): %v", bad, err)
		}
	}
	inst := &compute.Instance{UUID: "u1", DriverHandle: compute.Handle{Version: 1, Data: []byte("x")}.Encode()}
	if g := compute.GuestOf(inst); g.UUID != "u1" || g.Handle.Version != 1 || string(g.Handle.Data) != "x" {
		t.Errorf("GuestOf = %+v", g)
	}
	if fmt.Sprint(compute.Handle{Version: 3, Data: []byte("secret")}) != "handle(v3, 6 bytes)" {
		t.Errorf("String shows %v", compute.Handle{Version: 3, Data: []byte("secret")})
	}
}

func TestClassify(t *testing.T) {
	vendor := fs.ErrPermission
	cases := []struct {
		err  error
		want compute.ErrorClass
	}{
		{nil, compute.ClassNone},
		{context.Canceled, compute.ClassCanceled},
		{fmt.Errorf("spawn: %w", context.DeadlineExceeded), compute.ClassCanceled},
		{compute.Transient(context.Canceled), compute.ClassCanceled},
		{compute.GuestNotFound("u"), compute.ClassNotFound},
		{fmt.Errorf("libvirt: %w", compute.GuestNotFound("u")), compute.ClassNotFound},
		{compute.Unsupported("vmware", "pause"), compute.ClassUnsupported},
		{compute.InvalidInput("flavor", "bad"), compute.ClassInvalidInput},
		{compute.GuestStateError("u", compute.ActionPause, compute.PowerShutdown), compute.ClassInvalidState},
		{&compute.DuplicateError{Kind: "guest", Key: "u"}, compute.ClassConflict},
		{&compute.ResourcesUnavailableError{Host: "h", Resource: "VCPU"}, compute.ClassResourcesUnavailable},
		{compute.Transient(vendor), compute.ClassTransient},
		{vendor, compute.ClassUnknown},
	}
	for _, c := range cases {
		if got := compute.Classify(c.err); got != c.want {
			t.Errorf("Classify(%v) = %q, want %q", c.err, got, c.want)
		}
		if compute.IsRetryable(c.err) != (c.want == compute.ClassTransient) {
			t.Errorf("IsRetryable(%v) = %v", c.err, !(c.want == compute.ClassTransient))
		}
	}
	tr := compute.Transient(vendor)
	if !errors.Is(tr, fs.ErrPermission) || tr.Error() != vendor.Error() {
		t.Error("Transient hides its cause")
	}
	if compute.Transient(nil) != nil {
		t.Error("Transient(nil) is not nil")
	}
	if compute.IgnoreNotFound(compute.GuestNotFound("u")) != nil || compute.IgnoreNotFound(vendor) != vendor {
		t.Error("IgnoreNotFound")
	}
	if got := compute.GuestStateError("u1", compute.ActionPause, compute.PowerShutdown).Error(); got != "Cannot 'pause' instance u1 while it is in power_state shutdown" {
		t.Errorf("GuestStateError message %q", got)
	}
	if got := compute.Unsupported("vmware", "pause").Error(); got != "pause is not supported by the vmware driver" {
		t.Errorf("Unsupported message %q", got)
	}
}

func TestCapabilitiesTraits(t *testing.T) {
	if got := (compute.Capabilities{}).Traits(); len(got) != 0 {
		t.Errorf("zero capabilities give traits %v", got)
	}
	c := compute.Capabilities{
		AttachInterface: true, TaggedAttachInterface: true, AttachVolume: true, Multiattach: true, ExtendVolume: true,
		Rescue: true, RescueBootFromVolume: true, SecureBoot: true, Pause: true, VNC: true,
		ImageTypes: []string{"qcow2", "RAW", "raw"},
	}
	want := []string{
		"COMPUTE_IMAGE_TYPE_QCOW2", "COMPUTE_IMAGE_TYPE_RAW", "COMPUTE_NET_ATTACH_INTERFACE",
		"COMPUTE_NET_ATTACH_INTERFACE_WITH_TAG", "COMPUTE_RESCUE_BFV", "COMPUTE_SECURITY_UEFI_SECURE_BOOT",
		"COMPUTE_VOLUME_EXTEND", "COMPUTE_VOLUME_MULTI_ATTACH",
	}
	if got := c.Traits(); !reflect.DeepEqual(got, want) {
		t.Errorf("Traits() = %v\nwant %v", got, want)
	}
	managed := compute.ManagedTraits()
	for _, tr := range want {
		if !slices.Contains(managed, tr) {
			t.Errorf("ManagedTraits misses %s", tr)
		}
	}
	if !slices.IsSorted(managed) || len(managed) != 31 {
		t.Errorf("ManagedTraits: %d traits, sorted %v", len(managed), slices.IsSorted(managed))
	}
	if got := c.Consoles(); !reflect.DeepEqual(got, []compute.ConsoleType{compute.ConsoleVNC}) {
		t.Errorf("Consoles() = %v", got)
	}
}

// bare implements only the required interface.
type bare struct {
	compute.UnsupportedPause
	compute.UnsupportedSuspend
	compute.UnsupportedConsoleOutput
}

func (bare) Capabilities() compute.Capabilities { return compute.Capabilities{} }
func (bare) HostResources(context.Context) (compute.HostResources, error) {
	return compute.HostResources{}, nil
}
func (bare) Spawn(context.Context, *compute.SpawnSpec) (compute.Handle, error) {
	return compute.Handle{}, nil
}
func (bare) Destroy(context.Context, compute.Guest, compute.DestroyOptions) error { return nil }
func (bare) Reboot(context.Context, compute.Guest, compute.RebootType) error      { return nil }
func (bare) PowerOff(context.Context, compute.Guest, time.Duration) error         { return nil }
func (bare) PowerOn(context.Context, compute.Guest) error                         { return nil }
func (bare) Info(context.Context, compute.Guest) (compute.GuestInfo, error) {
	return compute.GuestInfo{}, nil
}
func (bare) ListGuests(context.Context) ([]compute.Guest, error) { return nil, nil }

var _ compute.Hypervisor = bare{}

func TestCapabilitiesCheck(t *testing.T) {
	var hv compute.Hypervisor = bare{}
	if err := (compute.Capabilities{Pause: true}).Check(hv); err != nil {
		t.Errorf("Pause needs no optional interface: %v", err)
	}
	err := compute.Capabilities{Snapshot: true, VNC: true, ResizeSameHost: true, ImageTypes: []string{"floppy"}}.Check(hv)
	if err == nil {
		t.Fatal("Check accepted capabilities the driver cannot back")
	}
	for _, s := range []string{"Snapshot", "VNC", "ResizeSameHost needs Resize", `"floppy"`} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("Check error lacks %q: %v", s, err)
		}
	}
	ctx := context.Background()
	for _, e := range []error{hv.Pause(ctx, compute.Guest{}), hv.Unpause(ctx, compute.Guest{}), hv.Suspend(ctx, compute.Guest{}), hv.Resume(ctx, compute.Guest{})} {
		if !errors.Is(e, compute.ErrUnsupported) {
			t.Errorf("embedded unsupported helper returned %v", e)
		}
	}
	if _, e := hv.ConsoleOutput(ctx, compute.Guest{}); !errors.Is(e, compute.ErrUnsupported) {
		t.Errorf("ConsoleOutput: %v", e)
	}
}
