package scheduler

import "unsafe"

// ptrTable maps string data pointers to host indexes: an open-addressing
// table with linear probing, cheaper per lookup than a Go map on the hot
// path. The slots hold the pointers as unsafe.Pointer, so the garbage
// collector keeps the strings alive and a pointer never comes to mean
// another string. Not safe for concurrent use (each scratch has its own).
type ptrTable struct {
	slots []ptrSlot // length a power of two, or 0
	n     int
}

type ptrSlot struct {
	p   unsafe.Pointer
	idx int32
}

func ptrHash(p unsafe.Pointer, mask int) int {
	return int((uint64(uintptr(p)) * 0x9e3779b97f4a7c15) >> 17 & uint64(mask))
}

func (t *ptrTable) get(p unsafe.Pointer) (int32, bool) {
	if len(t.slots) == 0 {
		return 0, false
	}
	mask := len(t.slots) - 1
	for h := ptrHash(p, mask); ; h = (h + 1) & mask {
		s := &t.slots[h]
		if s.p == p {
			return s.idx, true
		}
		if s.p == nil {
			return 0, false
		}
	}
}

func (t *ptrTable) put(p unsafe.Pointer, idx int32) {
	if 2*(t.n+1) > len(t.slots) {
		old := t.slots
		t.slots = make([]ptrSlot, max(1024, 2*len(old)))
		t.n = 0
		for _, s := range old {
			if s.p != nil {
				t.put(s.p, s.idx)
			}
		}
	}
	mask := len(t.slots) - 1
	for h := ptrHash(p, mask); ; h = (h + 1) & mask {
		s := &t.slots[h]
		if s.p == nil {
			s.p, s.idx = p, idx
			t.n++
			return
		}
		if s.p == p {
			s.idx = idx
			return
		}
	}
}

func (t *ptrTable) reset() {
	clear(t.slots)
	t.n = 0
}
