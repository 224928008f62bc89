package conductor_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/conductor"
	"github.com/novakit/novakit/store"
)

func TestResizeMovesAllocationsToMigration(t *testing.T) {
	e := newEnv(t, "", 3, conductor.Config{})
	in := e.active(small)
	e.setTask(in.UUID, compute.VMActive, compute.TaskResizePrep, "req-resize", compute.ActionResize)
	nf := medium
	req := compute.MigrateRequest{RequestID: "req-resize", NewFlavor: &nf, CleanShutdown: true}
	require.NoError(t, e.c.MigrateServer(e.ctx, in, req))

	migID := conductor.MigrationUUID(in.UUID, "req-resize")
	m, err := e.st.Migrations().Get(e.ctx, migID)
	require.NoError(t, err)
	assert.Equal(t, compute.MigrationTypeResize, m.MigrationType)
	assert.Equal(t, compute.MigrationPreMigrating, m.Status)
	assert.Equal(t, "host0", m.SourceCompute)
	assert.Equal(t, "host1", m.DestCompute)
	assert.Equal(t, "host1.node", m.DestNode)
	assert.Equal(t, "1", m.OldFlavorID)
	assert.Equal(t, "2", m.NewFlavorID)
	// Source usage under the migration, the new flavor on the destination
	// under the instance.
	assert.Equal(t, map[string]map[string]int64{e.hosts[0].RP: {"VCPU": 1, "MEMORY_MB": 512, "DISK_GB": 1}}, e.allocs(migID))
	assert.Equal(t, map[string]map[string]int64{e.hosts[1].RP: {"VCPU": 2, "MEMORY_MB": 2048, "DISK_GB": 20}}, e.allocs(in.UUID))

	cur := e.instance(in.UUID)
	assert.Equal(t, compute.TaskResizePrep, cur.TaskState)
	require.NotNil(t, cur.NewFlavor)
	require.NotNil(t, cur.OldFlavor)
	assert.Equal(t, "2", cur.NewFlavor.FlavorID)
	assert.Equal(t, "1", cur.OldFlavor.FlavorID)
	preps := e.agent.castsOf("prep_resize")
	require.Len(t, preps, 1)
	assert.Equal(t, "host1", preps[0].Host)
	assert.Equal(t, migID, preps[0].Migration.UUID)
	assert.Equal(t, "host1", preps[0].Migration.DestCompute)

	// The same request again does nothing.
	require.NoError(t, e.c.MigrateServer(e.ctx, in, req))
	assert.Len(t, e.agent.castsOf("prep_resize"), 1)
	ev := e.event(in.UUID, "req-resize", conductor.EventMigrateServer)
	require.NotNil(t, ev)
	assert.Equal(t, compute.EventSuccess, ev.Result)
}

func TestColdMigrateToRequestedHost(t *testing.T) {
	e := newEnv(t, "", 3, conductor.Config{})
	in := e.active(small)
	e.setTask(in.UUID, compute.VMActive, compute.TaskResizePrep, "req-mig", compute.ActionMigrate)
	require.NoError(t, e.c.MigrateServer(e.ctx, in, compute.MigrateRequest{RequestID: "req-mig", Host: "host2"}))
	m, err := e.st.Migrations().Get(e.ctx, conductor.MigrationUUID(in.UUID, "req-mig"))
	require.NoError(t, err)
	assert.Equal(t, compute.MigrationTypeMigration, m.MigrationType)
	assert.Equal(t, "host2", m.DestCompute)
	assert.Equal(t, m.OldFlavorID, m.NewFlavorID)
	assert.Equal(t, []string{e.hosts[2].RP}, keys(e.allocs(in.UUID)))
}

func TestMigrateNoValidHostRollsBack(t *testing.T) {
	e := newEnv(t, "", 1, conductor.Config{})
	in := e.active(small)
	before := e.allocs(in.UUID)
	e.setTask(in.UUID, compute.VMActive, compute.TaskResizePrep, "req-mig", compute.ActionMigrate)
	err := e.c.MigrateServer(e.ctx, in, compute.MigrateRequest{RequestID: "req-mig"})
	require.ErrorIs(t, err, compute.ErrNoValidHost)

	migID := conductor.MigrationUUID(in.UUID, "req-mig")
	m, gerr := e.st.Migrations().Get(e.ctx, migID)
	require.NoError(t, gerr)
	assert.Equal(t, compute.MigrationError, m.Status)
	assert.Nil(t, e.allocs(migID))
	assert.Equal(t, before, e.allocs(in.UUID))
	cur := e.instance(in.UUID)
	assert.Equal(t, compute.VMActive, cur.VMState)
	assert.Equal(t, compute.TaskNone, cur.TaskState)
	assert.Nil(t, cur.NewFlavor)
	fs := e.faults(in.UUID)
	require.Len(t, fs, 1)
	assert.Contains(t, fs[0].Message, "No valid host was found.")
	assert.Empty(t, e.agent.castsOf("prep_resize"))
}

func TestMigrateCastFailureRollsBack(t *testing.T) {
	e := newEnv(t, "", 2, conductor.Config{})
	in := e.active(small)
	before := e.allocs(in.UUID)
	e.agent.castErr["host1"] = assert.AnError
	e.setTask(in.UUID, compute.VMActive, compute.TaskResizePrep, "req-mig", compute.ActionMigrate)
	err := e.c.MigrateServer(e.ctx, in, compute.MigrateRequest{RequestID: "req-mig"})
	require.ErrorIs(t, err, assert.AnError)
	assert.Equal(t, before, e.allocs(in.UUID))
	assert.Nil(t, e.allocs(conductor.MigrationUUID(in.UUID, "req-mig")))
	assert.Equal(t, compute.TaskNone, e.instance(in.UUID).TaskState)
}

func TestMigrateRefusesWrongTaskState(t *testing.T) {
	e := newEnv(t, "", 2, conductor.Config{})
	in := e.active(small)
	err := e.c.MigrateServer(e.ctx, in, compute.MigrateRequest{RequestID: "req-x"})
	require.ErrorIs(t, err, compute.ErrInvalidState)
	_, gerr := e.st.Migrations().Get(e.ctx, conductor.MigrationUUID(in.UUID, "req-x"))
	require.ErrorIs(t, gerr, compute.ErrNotFound)
}

func TestEvacuateFromDownHost(t *testing.T) {
	e := newEnv(t, "", 3, conductor.Config{})
	in := e.active(small)
	src := e.allocs(in.UUID)
	svc, err := e.st.Services().GetByHostBinary(e.ctx, "host0", "nova-compute")
	require.NoError(t, err)
	_, err = e.st.Services().Update(e.ctx, svc.UUID, store.ServiceUpdate{ForcedDown: compute.Ptr(true)})
	require.NoError(t, err)
	e.setTask(in.UUID, compute.VMActive, compute.TaskRebuilding, "req-evac", compute.ActionEvacuate)
	req := compute.RebuildRequest{RequestID: "req-evac", ImageRef: in.ImageRef, Evacuate: true}
	require.NoError(t, e.c.RebuildInstance(e.ctx, in, req))

	migID := conductor.MigrationUUID(in.UUID, "req-evac")
	m, err := e.st.Migrations().Get(e.ctx, migID)
	require.NoError(t, err)
	assert.Equal(t, compute.MigrationTypeEvacuate, m.MigrationType)
	assert.Equal(t, compute.MigrationAccepted, m.Status)
	assert.Equal(t, "host0", m.SourceCompute)
	assert.Equal(t, "host1", m.DestCompute)
	// The instance holds source and destination, as Nova leaves it.
	got := e.allocs(in.UUID)
	assert.Equal(t, src[e.hosts[0].RP], got[e.hosts[0].RP])
	assert.Equal(t, map[string]int64{"VCPU": 1, "MEMORY_MB": 512, "DISK_GB": 1}, got[e.hosts[1].RP])
	assert.Nil(t, e.allocs(migID))
	rb := e.agent.castsOf("rebuild")
	require.Len(t, rb, 1)
	assert.Equal(t, "host1", rb[0].Host)
	require.NotNil(t, rb[0].Chosen)
	assert.Equal(t, migID, rb[0].Migration.UUID)

	// Again: nothing more.
	require.NoError(t, e.c.RebuildInstance(e.ctx, in, req))
	assert.Len(t, e.agent.castsOf("rebuild"), 1)
}

func TestEvacuateRefusedWhileSourceUp(t *testing.T) {
	e := newEnv(t, "", 2, conductor.Config{})
	in := e.active(small)
	e.setTask(in.UUID, compute.VMActive, compute.TaskRebuilding, "req-evac", compute.ActionEvacuate)
	err := e.c.RebuildInstance(e.ctx, in, compute.RebuildRequest{RequestID: "req-evac", Evacuate: true})
	require.ErrorIs(t, err, compute.ErrInvalidState)
	cur := e.instance(in.UUID)
	assert.Equal(t, compute.VMActive, cur.VMState)
	assert.Equal(t, compute.TaskNone, cur.TaskState)
	assert.Empty(t, e.agent.castsOf("rebuild"))
}

func TestEvacuateNoValidHost(t *testing.T) {
	// The service of host0 last reported long ago: down.
	e := newEnv(t, "", 1, conductor.Config{Now: func() time.Time { return time.Now().Add(time.Hour) }})
	in := e.active(small)
	src := e.allocs(in.UUID)
	e.setTask(in.UUID, compute.VMActive, compute.TaskRebuilding, "req-evac", compute.ActionEvacuate)
	err := e.c.RebuildInstance(e.ctx, in, compute.RebuildRequest{RequestID: "req-evac", Evacuate: true})
	require.ErrorIs(t, err, compute.ErrNoValidHost)
	cur := e.instance(in.UUID)
	assert.Equal(t, compute.VMError, cur.VMState)
	assert.Equal(t, compute.TaskNone, cur.TaskState)
	assert.Equal(t, src, e.allocs(in.UUID))
	m, err := e.st.Migrations().Get(e.ctx, conductor.MigrationUUID(in.UUID, "req-evac"))
	require.NoError(t, err)
	assert.Equal(t, compute.MigrationError, m.Status)
}

func TestRebuildInPlace(t *testing.T) {
	e := newEnv(t, "", 2, conductor.Config{})
	in := e.active(small)
	e.setTask(in.UUID, compute.VMActive, compute.TaskRebuilding, "req-rb", compute.ActionRebuild)
	require.NoError(t, e.c.RebuildInstance(e.ctx, in, compute.RebuildRequest{RequestID: "req-rb", ImageRef: "img2"}))
	rb := e.agent.castsOf("rebuild")
	require.Len(t, rb, 1)
	assert.Equal(t, "host0", rb[0].Host)
	assert.Nil(t, rb[0].Chosen)
	assert.Nil(t, rb[0].Migration)
}

func TestUnshelveOffloaded(t *testing.T) {
	e := newEnv(t, "", 2, conductor.Config{})
	in := e.active(small)
	// Offloaded: no host, no allocations.
	_, err := e.st.Instances().Update(e.ctx, in.UUID, compute.InstanceUpdate{Host: compute.Ptr(""), Node: compute.Ptr("")})
	require.NoError(t, err)
	require.NoError(t, e.pl.DeleteAllocations(e.ctx, in.UUID))
	e.setTask(in.UUID, compute.VMShelvedOffloaded, compute.TaskUnshelving, "req-un", compute.ActionUnshelve)

	require.NoError(t, e.c.UnshelveInstance(e.ctx, in, compute.UnshelveRequest{RequestID: "req-un", AvailabilityZone: "az1", Host: "host1"}))
	un := e.agent.castsOf("unshelve")
	require.Len(t, un, 1)
	assert.Equal(t, "host1", un[0].Host)
	require.NotNil(t, un[0].Chosen)
	assert.Equal(t, []string{e.hosts[1].RP}, keys(e.allocs(in.UUID)))
	spec, err := e.st.RequestSpecs().Get(e.ctx, in.UUID)
	require.NoError(t, err)
	assert.Equal(t, "az1", spec.AvailabilityZone)
}

func TestUnshelveNoValidHostStaysOffloaded(t *testing.T) {
	e := newEnv(t, "", 1, conductor.Config{})
	in := e.active(small)
	_, err := e.st.Instances().Update(e.ctx, in.UUID, compute.InstanceUpdate{Host: compute.Ptr(""), Node: compute.Ptr("")})
	require.NoError(t, err)
	require.NoError(t, e.pl.DeleteAllocations(e.ctx, in.UUID))
	e.setTask(in.UUID, compute.VMShelvedOffloaded, compute.TaskUnshelving, "req-un", compute.ActionUnshelve)
	err = e.c.UnshelveInstance(e.ctx, in, compute.UnshelveRequest{RequestID: "req-un", Host: "nowhere"})
	require.ErrorIs(t, err, compute.ErrNoValidHost)
	cur := e.instance(in.UUID)
	assert.Equal(t, compute.VMShelvedOffloaded, cur.VMState)
	assert.Equal(t, compute.TaskNone, cur.TaskState)
	assert.Nil(t, e.allocs(in.UUID))
}

func TestUnshelveShelvedOnItsHost(t *testing.T) {
	e := newEnv(t, "", 2, conductor.Config{})
	in := e.active(small)
	e.setTask(in.UUID, compute.VMShelved, compute.TaskUnshelving, "req-un", compute.ActionUnshelve)
	require.NoError(t, e.c.UnshelveInstance(e.ctx, in, compute.UnshelveRequest{RequestID: "req-un"}))
	un := e.agent.castsOf("unshelve")
	require.Len(t, un, 1)
	assert.Equal(t, "host0", un[0].Host)
	assert.Nil(t, un[0].Chosen)
	assert.EqualValues(t, 1, e.sched.calls.Load(), "no scheduling for a shelved instance still on its host")
}
