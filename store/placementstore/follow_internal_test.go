package placementstore

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// TestFollowerHoles: ids that become visible out of order are asked for
// again until they appear or expire, and next only moves over settled ids.
func TestFollowerHoles(t *testing.T) {
	t0 := time.Unix(1000, 0)
	f := newFollower(30 * time.Second)
	f.reset(10, t0)
	f.own(13) // this process wrote 13; 11 and 12 are still committing elsewhere
	f.advance(t0)
	above, holes := f.pending()
	assert.Equal(t, int64(13), above)
	assert.Equal(t, []int64{11, 12}, holes)
	assert.Equal(t, int64(11), f.next)

	f.seen[12] = true // 12 became visible
	f.advance(t0.Add(time.Second))
	_, holes = f.pending()
	assert.Equal(t, []int64{11}, holes)
	assert.Equal(t, int64(11), f.next)

	f.advance(t0.Add(31 * time.Second)) // 11 rolled back
	above, holes = f.pending()
	assert.Empty(t, holes)
	assert.Equal(t, int64(13), above)
	assert.Equal(t, int64(14), f.next)
}
