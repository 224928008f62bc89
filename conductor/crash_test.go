package conductor_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/conductor"
	"github.com/novakit/novakit/placement"
	placementapi "github.com/novakit/novakit/placement/api"
	"github.com/novakit/novakit/store"
)

// httpPlacement is conductor.Placement over Placement's REST API
// (microversion 1.38), so that a conductor in another process shares the
// test's placement.Index. Test-only: placement/client is not there yet.
type httpPlacement struct{ url string }

func (p httpPlacement) do(ctx context.Context, method, path string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, p.url+path, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("X-Auth-Token", "admin")
	req.Header.Set("OpenStack-API-Version", "placement 1.38")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

func (p httpPlacement) SetAllocations(ctx context.Context, allocs map[string]placement.ConsumerAllocations) error {
	body := map[string]any{}
	for c, ca := range allocs {
		a := map[string]any{}
		for rp, res := range ca.Allocations {
			a[rp] = map[string]any{"resources": res}
		}
		ct := ca.ConsumerType
		if ct == "" {
			ct = placement.ConsumerTypeInstance
		}
		body[c] = map[string]any{"allocations": a, "project_id": ca.Project, "user_id": ca.User,
			"consumer_generation": ca.Generation, "consumer_type": ct}
	}
	code, b, err := p.do(ctx, http.MethodPost, "/allocations", body)
	switch {
	case err != nil:
		return err
	case code == http.StatusNoContent:
		return nil
	case code == http.StatusConflict && strings.Contains(string(b), "placement.concurrent_update"):
		return fmt.Errorf("%w: %s", placement.ErrConsumerGenerationConflict, b)
	case code == http.StatusConflict:
		return fmt.Errorf("%w: %s", placement.ErrCapacityExceeded, b)
	}
	return fmt.Errorf("POST /allocations: %d %s", code, b)
}

func (p httpPlacement) DeleteAllocations(ctx context.Context, consumer string) error {
	code, b, err := p.do(ctx, http.MethodDelete, "/allocations/"+consumer, nil)
	switch {
	case err != nil:
		return err
	case code == http.StatusNoContent:
		return nil
	case code == http.StatusNotFound:
		return fmt.Errorf("%w: %s", placement.ErrNotFound, b)
	}
	return fmt.Errorf("DELETE /allocations: %d %s", code, b)
}

func (p httpPlacement) Consumer(ctx context.Context, consumer string) (placement.Consumer, error) {
	code, b, err := p.do(ctx, http.MethodGet, "/allocations/"+consumer, nil)
	if err != nil {
		return placement.Consumer{}, err
	}
	if code != http.StatusOK {
		return placement.Consumer{}, fmt.Errorf("GET /allocations: %d %s", code, b)
	}
	var out struct {
		Allocations map[string]struct {
			Generation int64            `json:"generation"`
			Resources  map[string]int64 `json:"resources"`
		} `json:"allocations"`
		ConsumerGeneration int64  `json:"consumer_generation"`
		Project            string `json:"project_id"`
		User               string `json:"user_id"`
		ConsumerType       string `json:"consumer_type"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return placement.Consumer{}, err
	}
	if len(out.Allocations) == 0 {
		return placement.Consumer{}, fmt.Errorf("%w: no consumer %s", placement.ErrNotFound, consumer)
	}
	c := placement.Consumer{UUID: consumer, Project: out.Project, User: out.User, ConsumerType: out.ConsumerType,
		Generation: out.ConsumerGeneration, Allocations: map[string]placement.ProviderAllocation{}}
	for rp, a := range out.Allocations {
		c.Allocations[rp] = placement.ProviderAllocation{Generation: a.Generation, Resources: a.Resources}
	}
	return c, nil
}

var _ conductor.Placement = httpPlacement{}

// crashPlan is what the parent tells the child conductor to do.
type crashPlan struct {
	DB        string
	Placement string
	Hosts     []host
	BuildA    *compute.BuildRequest // the first claim blocks
	BuildB    *compute.BuildRequest // placed and cast; the agent holds it
	Migrate   *compute.Instance     // its destination claim blocks
	MigrateID string
	Block     []string // instance uuids whose claims block
}

const crashEnv = "NOVAKIT_CONDUCTOR_CRASH_PLAN"

// runCrashChild is the conductor process the crash test kills: it runs
// three flows and reports on stdout how far each got, then blocks.
func runCrashChild(planJSON string) {
	var plan crashPlan
	if err := json.Unmarshal([]byte(planJSON), &plan); err != nil {
		panic(err)
	}
	ctx := context.Background()
	st, err := store.Open(ctx, plan.DB, nil)
	if err != nil {
		panic(err)
	}
	pl := httpPlacement{plan.Placement}
	out := bufio.NewWriter(os.Stdout)
	say := make(chan string, 16)
	go func() {
		for line := range say {
			out.WriteString(line + "\n")
			out.Flush()
		}
	}()
	sched := &testScheduler{pl: pl, hosts: plan.Hosts, afterClaim: func(id string) {
		for _, b := range plan.Block {
			if b == id {
				say <- "CLAIMED " + id
				select {} // the conductor dies here
			}
		}
	}}
	agent := newTestAgent(pl)
	agent.hold = true
	c := conductor.New(st, sched, pl, &reportingAgent{testAgent: agent, say: say}, conductor.Config{})
	agent.c = c
	go c.ScheduleAndBuildInstances(ctx, plan.BuildA)
	go c.ScheduleAndBuildInstances(ctx, plan.BuildB)
	go c.MigrateServer(ctx, plan.Migrate, compute.MigrateRequest{RequestID: plan.MigrateID, NewFlavor: &medium})
	select {}
}

// reportingAgent tells the parent about each build cast.
type reportingAgent struct {
	*testAgent
	say chan<- string
}

func (a *reportingAgent) BuildAndRunInstance(ctx context.Context, h string, inst *compute.Instance, req *compute.BuildRequest, chosen compute.Selection, alts []compute.Selection) error {
	err := a.testAgent.BuildAndRunInstance(ctx, h, inst, req, chosen, alts)
	a.say <- "CAST " + inst.UUID
	return err
}

// TestConductorKilledMidFlow runs a conductor as a separate process on a
// SQLite file and a placement shared over HTTP, kills it with SIGKILL
// while a build has claimed one of two instances, another build was cast
// to a host whose agent never took it, and a resize had moved the source
// allocation to the migration and claimed the destination; then the
// recovery pass of a new conductor must leave no instance stuck and no
// allocation leaked.
func TestConductorKilledMidFlow(t *testing.T) {
	if plan := os.Getenv(crashEnv); plan != "" {
		runCrashChild(plan)
		return
	}
	db := "sqlite://" + filepath.Join(t.TempDir(), "nova.db")
	e := newEnv(t, db, 3, conductor.Config{StuckAfter: -1})
	srv := httptest.NewServer(placementapi.New(e.pl, placementapi.Options{Authenticator: placementapi.NoAuth()}))
	defer srv.Close()

	x := e.active(small) // on host0
	xAllocs := e.allocs(x.UUID)
	e.setTask(x.UUID, compute.VMActive, compute.TaskResizePrep, "req-resize", compute.ActionResize)
	a := e.newInstances(2, small)
	b := e.newInstances(1, small)
	plan := crashPlan{DB: db, Placement: srv.URL, Hosts: e.hosts, BuildA: a, BuildB: b, Migrate: x,
		MigrateID: "req-resize", Block: []string{a.InstanceUUIDs[0], x.UUID}}
	pj, err := json.Marshal(plan)
	require.NoError(t, err)

	cmd := exec.Command(os.Args[0], "-test.run=^TestConductorKilledMidFlow$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+string(pj))
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	want := map[string]bool{"CLAIMED " + a.InstanceUUIDs[0]: true, "CLAIMED " + x.UUID: true, "CAST " + b.InstanceUUIDs[0]: true}
	sc := bufio.NewScanner(stdout)
	for len(want) > 0 && sc.Scan() {
		delete(want, sc.Text())
	}
	require.Empty(t, want, "the child conductor stopped before reaching every kill point")
	require.NoError(t, cmd.Process.Kill()) // SIGKILL
	_ = cmd.Wait()

	// Mid-flow state, as the dead conductor left it.
	migID := conductor.MigrationUUID(x.UUID, "req-resize")
	require.NotNil(t, e.allocs(a.InstanceUUIDs[0]), "the first build had claimed")
	require.NotNil(t, e.allocs(migID), "the resize had moved the source allocation")
	assert.Equal(t, compute.TaskScheduling, e.instance(b.InstanceUUIDs[0]).TaskState)

	rep, err := e.c.Recover(e.ctx)
	require.NoError(t, err)
	assert.Equal(t, conductor.RecoveryReport{Builds: 3, Migrations: 1}, rep)

	for _, id := range append(a.InstanceUUIDs, b.InstanceUUIDs...) {
		in := e.instance(id)
		assert.Equal(t, compute.VMError, in.VMState, id)
		assert.Equal(t, compute.TaskNone, in.TaskState, id)
		assert.Nil(t, e.allocs(id), "allocations of %s leaked", id)
		fs := e.faults(id)
		require.Len(t, fs, 1)
		assert.Contains(t, fs[0].Message, "interrupted")
	}
	cur := e.instance(x.UUID)
	assert.Equal(t, compute.VMActive, cur.VMState)
	assert.Equal(t, compute.TaskNone, cur.TaskState)
	assert.Nil(t, cur.NewFlavor)
	assert.Equal(t, xAllocs, e.allocs(x.UUID), "the resized instance holds its source allocation again")
	assert.Nil(t, e.allocs(migID))
	m, err := e.st.Migrations().Get(e.ctx, migID)
	require.NoError(t, err)
	assert.Equal(t, compute.MigrationError, m.Status)

	// Placement counts only x's allocation.
	for i, h := range e.hosts {
		u, _, err := e.pl.ProviderUsages(e.ctx, h.RP)
		require.NoError(t, err)
		if i == 0 {
			assert.Equal(t, map[string]int64{"VCPU": 1, "MEMORY_MB": 512, "DISK_GB": 1}, nonZero(u))
		} else {
			assert.Empty(t, nonZero(u), "usage leaked on %s", h.Name)
		}
	}
	// A second pass finds nothing.
	rep, err = e.c.Recover(e.ctx)
	require.NoError(t, err)
	assert.Equal(t, conductor.RecoveryReport{}, rep)
}

func nonZero(m map[string]int64) map[string]int64 {
	out := map[string]int64{}
	for k, v := range m {
		if v != 0 {
			out[k] = v
		}
	}
	return out
}
