package queuetest

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novakit/novakit/queue"
)

// testCastsSurviveBrokerRestart: casts sent before, during and after a
// broker restart that returned nil are all delivered once the broker is
// back; the same Client and Server objects keep working without help.
func (s *suite) testCastsSurviveBrokerRestart(t *testing.T) {
	if s.f.Restart == nil || !s.f.Durable {
		t.Skip("backend has no restartable durable broker (Features.Restart, Features.Durable)")
	}
	s.outage(t, s.f.Restart)
}

// testConfirmedCastsSurviveBrokerKill: the same with a SIGKILL of the broker
// instead of a clean stop: nothing a Cast acknowledged is lost.
func (s *suite) testConfirmedCastsSurviveBrokerKill(t *testing.T) {
	if s.f.Kill == nil || !s.f.Durable {
		t.Skip("backend has no killable durable broker (Features.Kill, Features.Durable)")
	}
	s.outage(t, s.f.Kill)
}

func (s *suite) outage(t *testing.T, disrupt func(context.Context) error) {
	tr := s.h.Open(t)
	topic := s.topic()
	var mu sync.Mutex
	delivered := map[int]int{}
	s.server(t, tr, queue.ServerConfig{Topic: topic, Server: "h1", MaxConcurrency: 4}, func(srv *queue.Server) {
		_ = queue.Handle(srv, "record", func(_ context.Context, n int) (struct{}, error) {
			mu.Lock()
			delivered[n]++
			mu.Unlock()
			return struct{}{}, nil
		})
		_ = queue.Handle(srv, "ping", func(context.Context, struct{}) (string, error) { return "pong", nil })
	})
	c := s.client(t, tr, queue.ClientConfig{})
	tgt := queue.Target{Topic: topic, Server: "h1"}
	var pong string
	require.NoError(t, c.Call(ctxFor(t, waitFor), tgt, "ping", nil, &pong))

	// Publishers cast continuously while the broker goes away and back.
	var next atomic.Int64
	var okMu sync.Mutex
	var acked []int
	var failed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				n := int(next.Add(1))
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				err := c.Cast(ctx, tgt, "record", n)
				cancel()
				if err != nil {
					failed.Add(1)
					continue
				}
				okMu.Lock()
				acked = append(acked, n)
				okMu.Unlock()
				time.Sleep(2 * time.Millisecond)
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)

	// A call in flight when the broker goes away fails with a timeout; it
	// never hangs.
	callErr := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		callErr <- c.Call(ctx, tgt, "missing-reply", nil, nil)
	}()
	require.NoError(t, disrupt(ctxFor(t, 2*time.Minute)))
	select {
	case err := <-callErr:
		require.Error(t, err)
		// Either the server answered before the outage (unknown method) or
		// the call timed out.
		if !assert.True(t, errorsIsAny(err, queue.ErrTimeout, queue.ErrUnknownMethod), "got %v", err) {
			return
		}
	case <-time.After(time.Minute):
		t.Fatal("call in flight during the outage hung")
	}

	time.Sleep(500 * time.Millisecond)
	close(stop)
	wg.Wait()

	// The same objects work again by themselves.
	require.Eventually(t, func() bool {
		return c.Call(ctxFor(t, 2*time.Second), tgt, "ping", nil, &pong) == nil
	}, time.Minute, 100*time.Millisecond, "calls do not work again after the broker came back")

	okMu.Lock()
	want := append([]int(nil), acked...)
	okMu.Unlock()
	require.NotEmpty(t, want)
	var missing []int
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		missing = missing[:0]
		for _, n := range want {
			if delivered[n] == 0 {
				missing = append(missing, n)
			}
		}
		return len(missing) == 0
	}, time.Minute, 100*time.Millisecond, "acknowledged casts lost")
	mu.Lock()
	dups := 0
	for _, n := range want {
		if delivered[n] > 1 {
			dups++
		}
	}
	mu.Unlock()
	t.Logf("casts acknowledged: %d, failed (not acknowledged, allowed): %d, missing: %d, delivered more than once: %d",
		len(want), failed.Load(), len(missing), dups)
}

func errorsIsAny(err error, targets ...error) bool {
	for _, t := range targets {
		if errorsIs(err, t) {
			return true
		}
	}
	return false
}

// testCallDuringOutageTimesOut: while the broker is down, a call fails with
// a timeout error at its deadline instead of hanging, and works again once
// the broker is back.
func (s *suite) testCallDuringOutageTimesOut(t *testing.T) {
	if s.f.Restart == nil {
		t.Skip("backend has no restartable broker (Features.Restart)")
	}
	tr := s.h.Open(t)
	topic := s.topic()
	s.server(t, tr, queue.ServerConfig{Topic: topic}, echo)
	c := s.client(t, tr, queue.ClientConfig{})
	tgt := queue.Target{Topic: topic}
	require.NoError(t, c.Call(ctxFor(t, waitFor), tgt, "echo", nil, nil))

	results := make(chan error, 20)
	stop := make(chan struct{})
	go func() {
		defer close(results)
		for {
			select {
			case <-stop:
				return
			default:
			}
			start := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			err := c.Call(ctx, tgt, "echo", nil, nil)
			cancel()
			if err != nil && time.Since(start) > 5*time.Second {
				results <- err
				return
			}
			if err != nil {
				select {
				case results <- err:
				default:
				}
			}
		}
	}()
	require.NoError(t, s.f.Restart(ctxFor(t, 2*time.Minute)))
	close(stop)
	var sawTimeout bool
	for err := range results {
		assert.True(t, errorsIsAny(err, queue.ErrTimeout), "call during outage: %v", err)
		sawTimeout = sawTimeout || errorsIs(err, queue.ErrTimeout)
	}
	assert.True(t, sawTimeout, "no call timed out during the outage")
	require.Eventually(t, func() bool {
		return c.Call(ctxFor(t, 2*time.Second), tgt, "echo", nil, nil) == nil
	}, time.Minute, 100*time.Millisecond)
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }
