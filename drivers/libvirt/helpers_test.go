package libvirt_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"testing"

	"github.com/novakit/novakit/compute"
)

// required reports whether missing dependencies must fail the tests (CI or
// NOVAKIT_TEST_SERVICES=require) rather than skip them.
func required() bool {
	return os.Getenv("CI") != "" && os.Getenv("CI") != "false" || os.Getenv("NOVAKIT_TEST_SERVICES") == "require"
}

// need skips (or, in CI, fails) the test when cond is false.
func need(t testing.TB, cond bool, why string) {
	t.Helper()
	if cond {
		return
	}
	if required() {
		t.Fatalf("%s (required: CI or NOVAKIT_TEST_SERVICES=require; run drivers/libvirt/testdata/setup.sh)", why)
	}
	t.Skipf("SKIPPED: %s (run drivers/libvirt/testdata/setup.sh)", why)
}

func haveQemuImg() bool { _, err := exec.LookPath("qemu-img"); return err == nil }

// memImages is an in-memory image service: the driver's ImageSource, and
// the snapshot upload target.
type memImages struct {
	mu    sync.Mutex
	metas map[string]compute.ImageMeta
	data  map[string][]byte
	gets  map[string]int
}

func newMemImages() *memImages {
	return &memImages{metas: map[string]compute.ImageMeta{}, data: map[string][]byte{}, gets: map[string]int{}}
}

func (m *memImages) add(meta compute.ImageMeta, data []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	meta.Size = int64(len(data))
	m.metas[meta.ID], m.data[meta.ID] = meta, data
}

func (m *memImages) ImageMeta(_ context.Context, id string) (compute.ImageMeta, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	meta, ok := m.metas[id]
	if !ok {
		return meta, compute.NotFound("image", id)
	}
	return meta, nil
}

func (m *memImages) Download(_ context.Context, id string) (io.ReadCloser, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.data[id]
	if !ok {
		return nil, compute.NotFound("image", id)
	}
	m.gets[id]++
	return io.NopCloser(bytes.NewReader(b)), nil
}

func (m *memImages) Upload(_ context.Context, meta compute.ImageMeta, r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m.add(meta, b)
	return nil
}

func (m *memImages) downloads(id string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.gets[id]
}

// rawDisk is a tiny raw disk image with a recognisable first sector.
func rawDisk(size int) []byte {
	b := make([]byte, size)
	copy(b, fmt.Sprintf("novakit test disk %d\n", size))
	return b
}
