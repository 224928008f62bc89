package placementstore_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novakit/novakit/internal/testsvc"
	"github.com/novakit/novakit/placement"
	"github.com/novakit/novakit/store/placementstore"
)

// childEnv, when set, makes the test binary a claimer process of
// TestSeparateProcessesNeverOvercommit (its value is the database URL).
const childEnv = "NOVAKIT_PLACEMENTSTORE_CHILD_URL"

func isConflict(err error) bool {
	return errors.Is(err, placement.ErrCapacityExceeded) || errors.Is(err, placement.ErrGenerationConflict) ||
		errors.Is(err, placement.ErrConsumerGenerationConflict)
}

// claimUntilFull runs workers claimers against s: each asks the Service's
// Index for a candidate for one VCPU and claims it for a new consumer,
// until no candidate is left after a Refresh. It returns the claims that
// succeeded, the conflicts, and any other error.
func claimUntilFull(ctx context.Context, s *placementstore.Service, workers int) (ok, conflicts int64, err error) {
	q, _ := url.ParseQuery("resources=VCPU:1&limit=4")
	req, perr := placement.ParseCandidateQuery(q, placement.Version{Major: 1, Minor: 39})
	if perr != nil {
		return 0, 0, perr
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for attempt := 0; attempt < 10000; attempt++ {
				res, err := s.Candidates(ctx, req)
				if err == nil && len(res.AllocationRequests) == 0 {
					if err = s.Refresh(ctx); err == nil {
						res, err = s.Candidates(ctx, req)
					}
					if err == nil && len(res.AllocationRequests) == 0 {
						return
					}
				}
				if err != nil {
					mu.Lock()
					first = errors.Join(first, err)
					mu.Unlock()
					return
				}
				ar := res.AllocationRequests[(w+attempt)%len(res.AllocationRequests)]
				allocs := map[string]map[string]int64{}
				for _, pr := range ar.Allocations {
					allocs[pr.ProviderUUID] = map[string]int64{}
					for _, r := range pr.Resources {
						allocs[pr.ProviderUUID][r.Class] = r.Amount
					}
				}
				err = s.SetAllocations(ctx, map[string]placement.ConsumerAllocations{uuid.NewString(): {
					Project: "p", User: "u", Allocations: allocs}})
				switch {
				case err == nil:
					atomic.AddInt64(&ok, 1)
				case isConflict(err):
					atomic.AddInt64(&conflicts, 1)
				default:
					mu.Lock()
					first = errors.Join(first, err)
					mu.Unlock()
					return
				}
			}
		}(w)
	}
	wg.Wait()
	return ok, conflicts, first
}

// runChild is the claimer process: it opens the database, says READY,
// waits for a line on stdin, claims until full and prints its counts.
func runChild() int {
	ctx := context.Background()
	s, err := placementstore.Open(ctx, os.Getenv(childEnv), &placementstore.Options{PollInterval: 5 * time.Millisecond})
	if err != nil {
		fmt.Println("ERROR", err)
		return 1
	}
	defer s.Close()
	fmt.Println("READY")
	bufio.NewReader(os.Stdin).ReadString('\n')
	ok, conflicts, err := claimUntilFull(ctx, s, 8)
	if err != nil {
		fmt.Println("ERROR", strings.ReplaceAll(err.Error(), "\n", " | "))
		return 1
	}
	fmt.Printf("RESULT %d %d\n", ok, conflicts)
	return 0
}

// cloud creates n providers with vcpus VCPU each.
func cloud(t testing.TB, s *placementstore.Service, n int, vcpus int64) []string {
	ctx := context.Background()
	var out []string
	for i := 0; i < n; i++ {
		rp, err := s.CreateProvider(ctx, placement.ProviderSpec{Name: fmt.Sprintf("cn%d", i)})
		require.NoError(t, err)
		_, _, err = s.SetInventories(ctx, rp.UUID, 0, map[string]placement.Inventory{"VCPU": inv(vcpus),
			"MEMORY_MB": inv(1 << 20), "DISK_GB": inv(1 << 20)})
		require.NoError(t, err)
		out = append(out, rp.UUID)
	}
	return out
}

func usedVCPU(t testing.TB, s *placementstore.Service, provs []string) int64 {
	var total int64
	for _, p := range provs {
		u, _, err := s.ProviderUsages(context.Background(), p)
		require.NoError(t, err)
		inv, _, err := s.Inventories(context.Background(), p)
		require.NoError(t, err)
		require.LessOrEqual(t, u["VCPU"], inv["VCPU"].Capacity(), "provider %s overcommitted", p)
		total += u["VCPU"]
	}
	return total
}

// TestSeparateProcessesNeverOvercommit races 4 OS processes (this test
// binary re-executed), 8 claimers each, for the 40 VCPUs of 4 providers in
// one PostgreSQL database: exactly 40 claims succeed, every other attempt
// is a conflict, and the database agrees with a fifth process's Index.
func TestSeparateProcessesNeverOvercommit(t *testing.T) {
	ctx := context.Background()
	dbURL := testsvc.NewDatabase(t, testsvc.SharedPostgres(t))
	s := open(t, dbURL, &placementstore.Options{PollInterval: -1})
	provs := cloud(t, s, 4, 10)

	type child struct {
		cmd   *exec.Cmd
		stdin io.WriteCloser
		out   *bufio.Reader
	}
	var children []*child
	for i := 0; i < 4; i++ {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"="+dbURL)
		cmd.Stderr = os.Stderr
		stdin, err := cmd.StdinPipe()
		require.NoError(t, err)
		stdout, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		c := &child{cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout)}
		children = append(children, c)
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		line, err := c.out.ReadString('\n')
		require.NoError(t, err)
		require.Equal(t, "READY\n", line)
	}
	for _, c := range children {
		_, err := c.stdin.Write([]byte("go\n"))
		require.NoError(t, err)
	}
	var ok, conflicts int64
	for i, c := range children {
		out, _ := io.ReadAll(c.out)
		require.NoError(t, c.cmd.Wait(), "child %d: %s", i, out)
		fields := strings.Fields(strings.TrimSpace(string(out)))
		require.Len(t, fields, 3, "child %d said %q", i, out)
		require.Equal(t, "RESULT", fields[0], "child %d said %q", i, out)
		o, _ := strconv.ParseInt(fields[1], 10, 64)
		cf, _ := strconv.ParseInt(fields[2], 10, 64)
		t.Logf("child %d: %d claims, %d conflicts", i, o, cf)
		ok += o
		conflicts += cf
	}
	assert.Equal(t, int64(40), ok, "claims that succeeded")
	require.NoError(t, s.Refresh(ctx))
	assert.Equal(t, int64(40), usedVCPU(t, s, provs))
	require.NoError(t, placementstore.CheckDB(ctx, s))
}
