package scheduler

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/queue"
)

func TestRPCOverMemQueue(t *testing.T) {
	ctx := context.Background()
	c := newCloud(t)
	for i := 0; i < 3; i++ {
		c.addHost(t, i, defaultHost())
	}
	s := c.scheduler(t, Options{HostSubsetSize: 3})

	codes := queue.NewErrorCodes()
	require.NoError(t, RegisterErrors(codes))
	require.NoError(t, RegisterErrors(codes), "idempotent")
	tr, err := queue.Open(ctx, "mem://")
	require.NoError(t, err)
	defer tr.Close()
	srv, err := tr.NewServer(queue.ServerConfig{Topic: Topic, Version: RPCVersion, Errors: codes})
	require.NoError(t, err)
	require.NoError(t, RegisterServer(srv, s))
	require.NoError(t, srv.Start(ctx))
	defer srv.Stop(ctx)
	qc, err := tr.NewClient(queue.ClientConfig{Errors: codes})
	require.NoError(t, err)
	defer qc.Close()
	client := NewClient(qc)

	rctx := queue.WithRequestContext(ctx, queue.RequestContext{RequestID: "req-rpc"})
	sels, err := client.SelectDestinations(rctx, tinySpec(), []string{instUUID(1), instUUID(2)})
	require.NoError(t, err)
	require.Len(t, sels, 2)
	for i, sl := range sels {
		require.NotEmpty(t, sl)
		assert.NotEmpty(t, sl[0].AllocationRequest)
		cons, err := c.ix.Consumer(ctx, instUUID(i+1))
		require.NoError(t, err)
		assert.Contains(t, cons.Allocations, sl[0].ComputeNodeUUID)
	}

	// The request id travels with the call: replaying it on an equal
	// state (a second scheduler, same cloud after releasing) gives the
	// same choice as the in-process call.
	for _, u := range []string{instUUID(1), instUUID(2)} {
		require.NoError(t, c.ix.DeleteAllocations(ctx, u))
	}
	local, err := c.scheduler(t, Options{HostSubsetSize: 3}).SelectDestinations(rctx, tinySpec(), []string{instUUID(1), instUUID(2)})
	require.NoError(t, err)
	assert.Equal(t, sels[0][0].ServiceHost, local[0][0].ServiceHost)
	assert.Equal(t, sels[1][0].ServiceHost, local[1][0].ServiceHost)

	// NoValidHost and invalid input keep their identity across the queue.
	big := tinySpec()
	big.Flavor.VCPUs = 1000
	_, err = client.SelectDestinations(ctx, big, []string{instUUID(3)})
	require.ErrorIs(t, err, compute.ErrNoValidHost)
	var re *queue.RemoteError
	require.True(t, errors.As(err, &re))
	assert.Equal(t, ErrorCodeNoValidHost, re.Code)
	_, err = client.SelectDestinations(ctx, tinySpec(), nil)
	require.ErrorIs(t, err, compute.ErrInvalidInput)
}
