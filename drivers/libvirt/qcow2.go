package libvirt

import (
	"encoding/binary"
	"fmt"
	"os"
)

// qcow2 layout constants (QEMU's docs/interop/qcow2.txt, version 3).
const (
	qcowMagic         = 0x514649fb // "QFI\xfb"
	qcowClusterBits   = 16         // 64 KiB clusters, QEMU's default
	qcowClusterSize   = 1 << qcowClusterBits
	qcowHeaderLength  = 104 // the version 3 header without optional fields
	qcowRefcountOrder = 4   // 16-bit refcounts, QEMU's default
	qcowExtBackingFmt = 0xE2792ACA
	qcowMaxBackingLen = 1023
)

// WriteQcow2 creates a new, empty qcow2 (version 3) image at p of virtual
// size bytes, backed by backing (of format backingFmt) when backing is
// not empty: what `qemu-img create -f qcow2 [-F fmt -b backing] p size`
// makes, written in-process because a fork and exec of qemu-img costs more
// than the rest of a spawn. The image holds only metadata: a header
// cluster (header, backing format extension, backing file name), the
// refcount table, one refcount block and the (empty) L1 table. It fails if
// p exists.
func WriteQcow2(p string, size int64, backing, backingFmt string) error {
	if size <= 0 || size%512 != 0 {
		return fmt.Errorf("qcow2: size %d is not a positive multiple of 512", size)
	}
	if len(backing) > qcowMaxBackingLen {
		return fmt.Errorf("qcow2: backing file name longer than %d bytes", qcowMaxBackingLen)
	}
	l2Entries := int64(qcowClusterSize / 8)
	l1Size := (size + qcowClusterSize*l2Entries - 1) / (qcowClusterSize * l2Entries)
	l1Clusters := (l1Size*8 + qcowClusterSize - 1) / qcowClusterSize
	if l1Clusters == 0 {
		l1Clusters = 1
	}
	const (
		refTableOff = 1 * qcowClusterSize
		refBlockOff = 2 * qcowClusterSize
		l1Off       = 3 * qcowClusterSize
	)
	clusters := 3 + l1Clusters
	if clusters > qcowClusterSize/2 { // one 16-bit refcount block covers 32768 clusters
		return fmt.Errorf("qcow2: size %d needs more metadata than one refcount block covers", size)
	}

	hdr := make([]byte, qcowClusterSize)
	be := binary.BigEndian
	be.PutUint32(hdr[0:], qcowMagic)
	be.PutUint32(hdr[4:], 3)
	be.PutUint32(hdr[20:], qcowClusterBits)
	be.PutUint64(hdr[24:], uint64(size))
	be.PutUint32(hdr[36:], uint32(l1Size))
	be.PutUint64(hdr[40:], l1Off)
	be.PutUint64(hdr[48:], refTableOff)
	be.PutUint32(hdr[56:], 1)
	be.PutUint32(hdr[96:], qcowRefcountOrder)
	be.PutUint32(hdr[100:], qcowHeaderLength)
	off := qcowHeaderLength
	if backing != "" {
		if backingFmt != "" {
			be.PutUint32(hdr[off:], qcowExtBackingFmt)
			be.PutUint32(hdr[off+4:], uint32(len(backingFmt)))
			copy(hdr[off+8:], backingFmt)
			off += 8 + (len(backingFmt)+7)/8*8
		}
		off += 8 // end of extensions (type 0, length 0)
		be.PutUint64(hdr[8:], uint64(off))
		be.PutUint32(hdr[16:], uint32(len(backing)))
		copy(hdr[off:], backing)
	}

	refTable := make([]byte, 8)
	be.PutUint64(refTable, refBlockOff)
	refBlock := make([]byte, 2*clusters)
	for i := range clusters {
		be.PutUint16(refBlock[2*i:], 1)
	}

	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	for _, w := range []struct {
		b   []byte
		off int64
	}{{hdr, 0}, {refTable, refTableOff}, {refBlock, refBlockOff}} {
		if _, err := f.WriteAt(w.b, w.off); err != nil {
			f.Close()
			os.Remove(p)
			return err
		}
	}
	if err := f.Truncate(clusters * qcowClusterSize); err != nil {
		f.Close()
		os.Remove(p)
		return err
	}
	return f.Close()
}
