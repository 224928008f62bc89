package image

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

const (
	qcow2Magic     = 0x514649fb // "QFI\xfb"
	qcow2HeaderLen = 104
)

// QCOW2Header is the part of a qcow2 header the store reads.
type QCOW2Header struct {
	Version     uint32
	ClusterBits uint32
	Size        uint64 // virtual size in bytes
}

// ParseQCOW2Header parses the header at the start of a qcow2 file (at
// least 72 bytes for version 2, 104 for version 3). Errors say what is
// wrong.
func ParseQCOW2Header(b []byte) (QCOW2Header, error) {
	if len(b) < 72 {
		return QCOW2Header{}, errors.New("qcow2: header shorter than 72 bytes")
	}
	if binary.BigEndian.Uint32(b) != qcow2Magic {
		return QCOW2Header{}, errors.New("qcow2: bad magic")
	}
	h := QCOW2Header{Version: binary.BigEndian.Uint32(b[4:]), ClusterBits: binary.BigEndian.Uint32(b[20:]),
		Size: binary.BigEndian.Uint64(b[24:])}
	switch h.Version {
	case 2:
	case 3:
		if len(b) < qcow2HeaderLen {
			return QCOW2Header{}, errors.New("qcow2: version 3 header shorter than 104 bytes")
		}
	default:
		return QCOW2Header{}, fmt.Errorf("qcow2: unsupported version %d", h.Version)
	}
	if h.ClusterBits < 9 || h.ClusterBits > 21 {
		return QCOW2Header{}, fmt.Errorf("qcow2: cluster_bits %d out of range 9..21", h.ClusterBits)
	}
	if h.Size > math.MaxInt64 {
		return QCOW2Header{}, fmt.Errorf("qcow2: virtual size %d too large", h.Size)
	}
	return h, nil
}

// NewQCOW2 returns a valid, empty qcow2 (version 3, 64 KiB clusters)
// image of virtualSize bytes: header, one refcount table cluster, one
// refcount block and the L1 table, every guest cluster unallocated
// (reads as zeros). qemu-img accepts it; it holds no operating system.
func NewQCOW2(virtualSize uint64) []byte {
	const clusterBits = 16
	const cluster = 1 << clusterBits
	l2Entries := uint64(cluster / 8)
	perL1 := l2Entries * cluster
	l1Size := (virtualSize + perL1 - 1) / perL1
	l1Clusters := (l1Size*8 + cluster - 1) / cluster
	if l1Clusters == 0 {
		l1Clusters = 1
	}
	total := 3 + l1Clusters // header, refcount table, refcount block, L1
	buf := make([]byte, total*cluster)
	be := binary.BigEndian
	be.PutUint32(buf[0:], qcow2Magic)
	be.PutUint32(buf[4:], 3)            // version
	be.PutUint32(buf[20:], clusterBits) // cluster_bits
	be.PutUint64(buf[24:], virtualSize)
	be.PutUint32(buf[36:], uint32(l1Size))  //nolint:gosec // small
	be.PutUint64(buf[40:], 3*cluster)       // l1_table_offset
	be.PutUint64(buf[48:], 1*cluster)       // refcount_table_offset
	be.PutUint32(buf[56:], 1)               // refcount_table_clusters
	be.PutUint32(buf[96:], 4)               // refcount_order: 16-bit refcounts
	be.PutUint32(buf[100:], qcow2HeaderLen) // header_length
	// Header extensions: only the end marker (zeros) at offset 104.
	be.PutUint64(buf[cluster:], 2*cluster) // refcount table[0] → refcount block
	for i := range total {
		be.PutUint16(buf[2*cluster+2*i:], 1)
	}
	return buf
}
