package libvirt_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/novakit/novakit/drivers/libvirt"
)

// TestWriteQcow2MatchesQemuImg checks the in-process qcow2 writer with
// qemu-img itself: `qemu-img check` finds no error or leak, `qemu-img
// info` reads the size, backing file and format back, and the overlay
// reads the backing file's data.
func TestWriteQcow2MatchesQemuImg(t *testing.T) {
	need(t, haveQemuImg(), "qemu-img is not installed (Debian: qemu-utils)")
	dir := t.TempDir()
	base := filepath.Join(dir, "base.raw")
	require.NoError(t, os.WriteFile(base, rawDisk(1<<20), 0o644))
	for _, tc := range []struct {
		name    string
		size    int64
		backing string
	}{
		{"overlay 1G", 1 << 30, base},
		{"overlay 20G", 20 << 30, base},
		{"blank 64M", 64 << 20, ""},
		{"blank 600G", 600 << 30, ""},
		{"odd size", 1<<20 + 512, base},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, tc.name+".qcow2")
			require.NoError(t, libvirt.WriteQcow2(p, tc.size, tc.backing, "raw"))
			out, err := execOut("qemu-img", "check", p)
			require.NoError(t, err, out)
			out, err = execOut("qemu-img", "info", "--output=json", p)
			require.NoError(t, err, out)
			var info struct {
				Format      string `json:"format"`
				VirtualSize int64  `json:"virtual-size"`
				Backing     string `json:"backing-filename"`
				BackingFmt  string `json:"backing-filename-format"`
			}
			require.NoError(t, json.Unmarshal([]byte(out), &info))
			require.Equal(t, "qcow2", info.Format)
			require.Equal(t, tc.size, info.VirtualSize)
			require.Equal(t, tc.backing, info.Backing)
			if tc.backing != "" {
				require.Equal(t, "raw", info.BackingFmt)
				raw := filepath.Join(dir, tc.name+".raw")
				out, err = execOut("qemu-img", "dd", "-f", "qcow2", "-O", "raw", "bs=1M", "count=1", "if="+p, "of="+raw)
				require.NoError(t, err, out)
				got, err := os.ReadFile(raw)
				require.NoError(t, err)
				require.Equal(t, rawDisk(1<<20), got, "the overlay shows the base's data")
			}
			require.Error(t, libvirt.WriteQcow2(p, tc.size, tc.backing, "raw"), "an existing file is not overwritten")
		})
	}
	require.Error(t, libvirt.WriteQcow2(filepath.Join(dir, "bad"), 1000, "", ""), "size "+strconv.Itoa(1000))
}
