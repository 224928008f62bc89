package agent_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/compute/agent/agenttest"
	"github.com/novakit/novakit/drivers/fake"
	"github.com/novakit/novakit/internal/testsvc"
)

func TestMain(m *testing.M) { testsvc.Main(m) }

// TestOverRabbitMQAndPostgreSQL runs a build, a stop and a delete with the
// agent's RPC on RabbitMQ and the records in PostgreSQL.
func TestOverRabbitMQAndPostgreSQL(t *testing.T) {
	mq := testsvc.SharedRabbitMQ(t)
	db := testsvc.NewDatabase(t, testsvc.SharedPostgres(t))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := agenttest.OpenWith(ctx, db, mq.URL())
	require.NoError(t, err)
	defer c.Close()
	fc, err := fake.New(fake.Config{})
	require.NoError(t, err)
	defer fc.Close()
	a, err := c.StartAgent(ctx, c.Options("host1", fc.Host("host1")))
	require.NoError(t, err)

	inst, err := c.Boot(ctx, a.Agent, agenttest.BootOptions{})
	require.NoError(t, err)
	got, err := c.Wait(ctx, inst.UUID, agenttest.Settled)
	require.NoError(t, err)
	assert.Equal(t, compute.VMActive, got.VMState)

	_, err = c.Act(ctx, inst.UUID, compute.ActionStop, func(ctx context.Context, i *compute.Instance) error {
		return c.Client.StopInstance(ctx, i, false)
	})
	require.NoError(t, err)
	got, err = c.Wait(ctx, inst.UUID, agenttest.Settled)
	require.NoError(t, err)
	assert.Equal(t, compute.VMStopped, got.VMState)

	out, err := c.Client.GetConsoleOutput(ctx, got, 0)
	require.NoError(t, err)
	assert.NotEmpty(t, out)

	_, err = c.Act(ctx, inst.UUID, compute.ActionDelete, c.Client.TerminateInstance)
	require.NoError(t, err)
	_, err = c.Wait(ctx, inst.UUID, agenttest.Deleted)
	require.NoError(t, err)
	assert.Zero(t, fc.Host("host1").GuestCount())
}
