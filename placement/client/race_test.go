package client_test

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novakit/novakit/placement"
)

// TestClaimRaceThroughClient: 64 goroutines share one client and race for
// the last 3 VCPUs; exactly 3 win, the others get ErrCapacityExceeded, and
// the usage ends at capacity.
func TestClaimRaceThroughClient(t *testing.T) {
	c := newRemote(t, placement.New(placement.Options{}))
	computeNode(t, c, cn1, "cn1", 10)
	ctx := t.Context()
	require.NoError(t, c.SetAllocations(ctx, map[string]placement.ConsumerAllocations{c1: claim("p", nil, cn1, map[string]int64{"VCPU": 7})}))
	var wins, refused atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < 64; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			err := c.SetAllocations(ctx, map[string]placement.ConsumerAllocations{uuid.NewString(): claim("p", nil, cn1, map[string]int64{"VCPU": 1})})
			switch {
			case err == nil:
				wins.Add(1)
			case errors.Is(err, placement.ErrCapacityExceeded):
				refused.Add(1)
			default:
				t.Error(err)
			}
		}()
	}
	close(start)
	wg.Wait()
	assert.Equal(t, int32(3), wins.Load())
	assert.Equal(t, int32(61), refused.Load())
	us, _, err := c.ProviderUsages(ctx, cn1)
	require.NoError(t, err)
	assert.Equal(t, int64(10), us["VCPU"])
}
