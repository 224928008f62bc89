package queuetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novakit/novakit/queue"
)

// Harness opens transports on the backend under test.
type Harness struct {
	// Open returns a transport on the backend. Every call in one subtest
	// must reach the same broker (for mem://, return the same Transport or
	// one sharing its broker). The harness closes what it returns through
	// t.Cleanup, or the suite closes it.
	Open func(t *testing.T) *queue.Transport
}

// Features declares what the backend can do, and so which contracts are
// checked and how.
type Features struct {
	// Durable: casts that returned nil survive a broker restart or crash.
	Durable bool

	// Restart stops the broker gracefully and starts it again; the
	// transports opened before must keep working. Nil skips the restart
	// tests.
	Restart func(ctx context.Context) error

	// Kill kills the broker (SIGKILL) and starts it again. Nil skips the
	// crash test.
	Kill func(ctx context.Context) error

	// Name prefix for topics, queues and notification topics; default "qt".
	// Every subtest adds a unique suffix, so leftovers from earlier runs on a
	// durable broker do not interfere.
	TopicPrefix string
}

// Run runs the conformance suite. Subtests are named after the contract
// they check.
func Run(t *testing.T, h Harness, f Features) {
	if f.TopicPrefix == "" {
		f.TopicPrefix = "qt"
	}
	s := &suite{h: h, f: f}
	tests := []struct {
		name string
		fn   func(t *testing.T)
	}{
		{"TestCallReturnsResult", s.testCallReturnsResult},
		{"TestCastReachesServer", s.testCastReachesServer},
		{"TestCastToServerTargetReachesOnlyThatServer", s.testCastToServerTargetReachesOnlyThatServer},
		{"TestCallToServerTargetReachesOnlyThatServer", s.testCallToServerTargetReachesOnlyThatServer},
		{"TestTopicCastIsConsumedOnce", s.testTopicCastIsConsumedOnce},
		{"TestFanoutReachesEveryServer", s.testFanoutReachesEveryServer},
		{"TestCastBeforeServerStartsIsKept", s.testCastBeforeServerStartsIsKept},
		{"TestCallTimesOutWhenNoServer", s.testCallTimesOutWhenNoServer},
		{"TestCallUsesDefaultTimeout", s.testCallUsesDefaultTimeout},
		{"TestCallCanceledIsNotTimeout", s.testCallCanceledIsNotTimeout},
		{"TestCallDeadlineReachesHandler", s.testCallDeadlineReachesHandler},
		{"TestCallRemoteErrorIsTyped", s.testCallRemoteErrorIsTyped},
		{"TestUnknownMethodIsTypedError", s.testUnknownMethodIsTypedError},
		{"TestUnknownMethodCastIsDropped", s.testUnknownMethodCastIsDropped},
		{"TestUnsupportedVersionIsTypedError", s.testUnsupportedVersionIsTypedError},
		{"TestBadArgumentsIsTypedError", s.testBadArgumentsIsTypedError},
		{"TestPanickingHandlerBecomesError", s.testPanickingHandlerBecomesError},
		{"TestFailedCastIsNotRedelivered", s.testFailedCastIsNotRedelivered},
		{"TestStopDrainsInFlight", s.testStopDrainsInFlight},
		{"TestBoundedConcurrency", s.testBoundedConcurrency},
		{"TestRequestContextTravels", s.testRequestContextTravels},
		{"TestConcurrentCallsGetTheirOwnReplies", s.testConcurrentCallsGetTheirOwnReplies},
		{"TestClosedClientFailsCalls", s.testClosedClientFailsCalls},
		{"TestInvalidTargetIsRejected", s.testInvalidTargetIsRejected},
		{"TestNotificationsArePublished", s.testNotificationsArePublished},
		{"TestCastsSurviveBrokerRestart", s.testCastsSurviveBrokerRestart},
		{"TestCallDuringOutageTimesOut", s.testCallDuringOutageTimesOut},
		{"TestConfirmedCastsSurviveBrokerKill", s.testConfirmedCastsSurviveBrokerKill},
	}
	for _, tc := range tests {
		t.Run(tc.name, tc.fn)
	}
}

type suite struct {
	h Harness
	f Features
}

const waitFor = 10 * time.Second

func (s *suite) topic() string {
	return s.f.TopicPrefix + "_" + strings.ReplaceAll(uuid.NewString()[:13], "-", "")
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func (s *suite) client(t *testing.T, tr *queue.Transport, cfg queue.ClientConfig) *queue.Client {
	c, err := tr.NewClient(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// server starts a server with the given handlers registered by reg.
func (s *suite) server(t *testing.T, tr *queue.Transport, cfg queue.ServerConfig, reg func(*queue.Server)) *queue.Server {
	srv, err := tr.NewServer(cfg)
	require.NoError(t, err)
	if reg != nil {
		reg(srv)
	}
	require.NoError(t, srv.Start(ctxFor(t, 30*time.Second)))
	t.Cleanup(func() { _ = srv.Stop(ctxFor(t, 10*time.Second)) })
	return srv
}

type echoArgs struct {
	N    int    `json:"n"`
	Text string `json:"text"`
}

func echo(srv *queue.Server) {
	_ = queue.Handle(srv, "echo", func(_ context.Context, a echoArgs) (echoArgs, error) {
		return echoArgs{N: a.N + 1, Text: strings.ToUpper(a.Text)}, nil
	})
}

// recorder counts casts per server.
type recorder struct {
	mu   sync.Mutex
	got  map[string][]int
	seen chan struct{}
}

func newRecorder() *recorder {
	return &recorder{got: map[string][]int{}, seen: make(chan struct{}, 100000)}
}

func (r *recorder) register(name string) func(*queue.Server) {
	return func(srv *queue.Server) {
		_ = queue.Handle(srv, "record", func(_ context.Context, n int) (struct{}, error) {
			r.mu.Lock()
			r.got[name] = append(r.got[name], n)
			r.mu.Unlock()
			r.seen <- struct{}{}
			return struct{}{}, nil
		})
	}
}

func (r *recorder) wait(t *testing.T, n int) {
	t.Helper()
	deadline := time.After(waitFor)
	for range n {
		select {
		case <-r.seen:
		case <-deadline:
			t.Fatalf("timed out waiting for %d deliveries; got %v", n, r.snapshot())
		}
	}
}

func (r *recorder) snapshot() map[string][]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string][]int, len(r.got))
	for k, v := range r.got {
		out[k] = append([]int(nil), v...)
	}
	return out
}

// quiet asserts nothing more arrives for a short while.
func (r *recorder) quiet(t *testing.T) {
	t.Helper()
	select {
	case <-r.seen:
		t.Fatalf("unexpected extra delivery: %v", r.snapshot())
	case <-time.After(200 * time.Millisecond):
	}
}

func (s *suite) testCallReturnsResult(t *testing.T) {
	tr := s.h.Open(t)
	topic := s.topic()
	s.server(t, tr, queue.ServerConfig{Topic: topic, Server: "h1"}, echo)
	c := s.client(t, tr, queue.ClientConfig{})
	var out echoArgs
	require.NoError(t, c.Call(ctxFor(t, waitFor), queue.Target{Topic: topic}, "echo", echoArgs{N: 41, Text: "hi"}, &out))
	assert.Equal(t, echoArgs{N: 42, Text: "HI"}, out)
	// reply may be nil, args may be raw JSON.
	require.NoError(t, c.Call(ctxFor(t, waitFor), queue.Target{Topic: topic, Server: "h1"}, "echo", json.RawMessage(`{"n":1}`), nil))
}

func (s *suite) testCastReachesServer(t *testing.T) {
	tr := s.h.Open(t)
	topic := s.topic()
	r := newRecorder()
	s.server(t, tr, queue.ServerConfig{Topic: topic, Server: "h1"}, r.register("h1"))
	c := s.client(t, tr, queue.ClientConfig{})
	require.NoError(t, c.Cast(ctxFor(t, waitFor), queue.Target{Topic: topic}, "record", 7))
	r.wait(t, 1)
	assert.Equal(t, map[string][]int{"h1": {7}}, r.snapshot())
}

func (s *suite) testCastToServerTargetReachesOnlyThatServer(t *testing.T) {
	tr := s.h.Open(t)
	topic := s.topic()
	r := newRecorder()
	for _, h := range []string{"h1", "h2", "h3"} {
		s.server(t, tr, queue.ServerConfig{Topic: topic, Server: h}, r.register(h))
	}
	c := s.client(t, tr, queue.ClientConfig{})
	for i := range 10 {
		require.NoError(t, c.Cast(ctxFor(t, waitFor), queue.Target{Topic: topic, Server: "h2"}, "record", i))
	}
	r.wait(t, 10)
	r.quiet(t)
	got := r.snapshot()
	assert.Len(t, got, 1, "only h2 may receive: %v", got)
	assert.ElementsMatch(t, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, got["h2"])
}

func (s *suite) testCallToServerTargetReachesOnlyThatServer(t *testing.T) {
	tr := s.h.Open(t)
	topic := s.topic()
	for _, h := range []string{"h1", "h2"} {
		s.server(t, tr, queue.ServerConfig{Topic: topic, Server: h}, func(srv *queue.Server) {
			_ = queue.Handle(srv, "whoami", func(context.Context, struct{}) (string, error) { return h, nil })
		})
	}
	c := s.client(t, tr, queue.ClientConfig{})
	for range 5 {
		var who string
		require.NoError(t, c.Call(ctxFor(t, waitFor), queue.Target{Topic: topic, Server: "h2"}, "whoami", nil, &who))
		assert.Equal(t, "h2", who)
	}
}

func (s *suite) testTopicCastIsConsumedOnce(t *testing.T) {
	tr := s.h.Open(t)
	topic := s.topic()
	r := newRecorder()
	for _, h := range []string{"h1", "h2", "h3"} {
		s.server(t, tr, queue.ServerConfig{Topic: topic, Server: h, MaxConcurrency: 2}, r.register(h))
	}
	c := s.client(t, tr, queue.ClientConfig{})
	const n = 60
	for i := range n {
		require.NoError(t, c.Cast(ctxFor(t, waitFor), queue.Target{Topic: topic}, "record", i))
	}
	r.wait(t, n)
	r.quiet(t)
	var all []int
	for _, v := range r.snapshot() {
		all = append(all, v...)
	}
	want := make([]int, n)
	for i := range want {
		want[i] = i
	}
	assert.ElementsMatch(t, want, all, "each cast exactly once across the servers")
}

func (s *suite) testFanoutReachesEveryServer(t *testing.T) {
	tr := s.h.Open(t)
	topic := s.topic()
	r := newRecorder()
	hosts := []string{"h1", "h2", "h3"}
	for _, h := range hosts {
		s.server(t, tr, queue.ServerConfig{Topic: topic, Server: h}, r.register(h))
	}
	// A server without a name gets fanouts too.
	s.server(t, tr, queue.ServerConfig{Topic: topic}, r.register("anon"))
	c := s.client(t, tr, queue.ClientConfig{})
	require.NoError(t, c.Cast(ctxFor(t, waitFor), queue.Target{Topic: topic, Fanout: true}, "record", 5))
	r.wait(t, 4)
	r.quiet(t)
	assert.Equal(t, map[string][]int{"h1": {5}, "h2": {5}, "h3": {5}, "anon": {5}}, r.snapshot())
}

func (s *suite) testCastBeforeServerStartsIsKept(t *testing.T) {
	tr := s.h.Open(t)
	topic := s.topic()
	c := s.client(t, tr, queue.ClientConfig{})
	require.NoError(t, c.Cast(ctxFor(t, waitFor), queue.Target{Topic: topic}, "record", 1))
	require.NoError(t, c.Cast(ctxFor(t, waitFor), queue.Target{Topic: topic, Server: "late"}, "record", 2))
	r := newRecorder()
	s.server(t, tr, queue.ServerConfig{Topic: topic, Server: "late"}, r.register("late"))
	r.wait(t, 2)
	assert.ElementsMatch(t, []int{1, 2}, r.snapshot()["late"])
}

func (s *suite) testCallTimesOutWhenNoServer(t *testing.T) {
	tr := s.h.Open(t)
	c := s.client(t, tr, queue.ClientConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := c.Call(ctx, queue.Target{Topic: s.topic(), Server: "nobody"}, "echo", nil, nil)
	require.Error(t, err)
	assert.ErrorIs(t, err, queue.ErrTimeout)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 5*time.Second)
}

func (s *suite) testCallUsesDefaultTimeout(t *testing.T) {
	tr := s.h.Open(t)
	c := s.client(t, tr, queue.ClientConfig{Timeout: 200 * time.Millisecond})
	start := time.Now()
	err := c.Call(context.Background(), queue.Target{Topic: s.topic()}, "echo", nil, nil)
	assert.ErrorIs(t, err, queue.ErrTimeout)
	assert.Less(t, time.Since(start), 5*time.Second)
}

func (s *suite) testCallCanceledIsNotTimeout(t *testing.T) {
	tr := s.h.Open(t)
	c := s.client(t, tr, queue.ClientConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	err := c.Call(ctx, queue.Target{Topic: s.topic()}, "echo", nil, nil)
	assert.ErrorIs(t, err, context.Canceled)
	assert.NotErrorIs(t, err, queue.ErrTimeout)
}

func (s *suite) testCallDeadlineReachesHandler(t *testing.T) {
	tr := s.h.Open(t)
	topic := s.topic()
	s.server(t, tr, queue.ServerConfig{Topic: topic}, func(srv *queue.Server) {
		_ = queue.Handle(srv, "deadline", func(ctx context.Context, _ struct{}) (time.Time, error) {
			dl, ok := ctx.Deadline()
			if !ok {
				return time.Time{}, errors.New("no deadline")
			}
			return dl, nil
		})
	})
	c := s.client(t, tr, queue.ClientConfig{})
	want := time.Now().Add(7 * time.Second)
	ctx, cancel := context.WithDeadline(context.Background(), want)
	defer cancel()
	var got time.Time
	require.NoError(t, c.Call(ctx, queue.Target{Topic: topic}, "deadline", nil, &got))
	assert.WithinDuration(t, want, got, time.Millisecond)
}

var errThing = errors.New("thing not found")

func (s *suite) testCallRemoteErrorIsTyped(t *testing.T) {
	tr := s.h.Open(t)
	topic := s.topic()
	codes := queue.NewErrorCodes()
	require.NoError(t, codes.Register("test.not_found", errThing))
	s.server(t, tr, queue.ServerConfig{Topic: topic, Errors: codes}, func(srv *queue.Server) {
		_ = queue.Handle(srv, "find", func(_ context.Context, id string) (struct{}, error) {
			return struct{}{}, fmt.Errorf("instance %s: %w", id, errThing)
		})
		_ = queue.Handle(srv, "broken", func(context.Context, struct{}) (struct{}, error) {
			return struct{}{}, errors.New("disk on fire")
		})
	})
	c := s.client(t, tr, queue.ClientConfig{Errors: codes})
	err := c.Call(ctxFor(t, waitFor), queue.Target{Topic: topic}, "find", "i-1", nil)
	require.Error(t, err)
	assert.ErrorIs(t, err, errThing)
	var re *queue.RemoteError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, "test.not_found", re.Code)
	assert.Contains(t, re.Message, "instance i-1")

	err = c.Call(ctxFor(t, waitFor), queue.Target{Topic: topic}, "broken", nil, nil)
	require.ErrorAs(t, err, &re)
	assert.Equal(t, "", re.Code)
	assert.Contains(t, re.Message, "disk on fire")

	// A client that does not know the code still gets a RemoteError.
	plain := s.client(t, tr, queue.ClientConfig{})
	err = plain.Call(ctxFor(t, waitFor), queue.Target{Topic: topic}, "find", "i-2", nil)
	require.ErrorAs(t, err, &re)
	assert.Equal(t, "test.not_found", re.Code)
	assert.NotErrorIs(t, err, errThing)
}

func (s *suite) testUnknownMethodIsTypedError(t *testing.T) {
	tr := s.h.Open(t)
	topic := s.topic()
	s.server(t, tr, queue.ServerConfig{Topic: topic}, echo)
	c := s.client(t, tr, queue.ClientConfig{})
	err := c.Call(ctxFor(t, waitFor), queue.Target{Topic: topic}, "nope", nil, nil)
	assert.ErrorIs(t, err, queue.ErrUnknownMethod)
	var re *queue.RemoteError
	assert.ErrorAs(t, err, &re)
}

func (s *suite) testUnknownMethodCastIsDropped(t *testing.T) {
	tr := s.h.Open(t)
	topic := s.topic()
	r := newRecorder()
	s.server(t, tr, queue.ServerConfig{Topic: topic, MaxConcurrency: 1}, r.register("h"))
	c := s.client(t, tr, queue.ClientConfig{})
	require.NoError(t, c.Cast(ctxFor(t, waitFor), queue.Target{Topic: topic}, "nope", nil))
	require.NoError(t, c.Cast(ctxFor(t, waitFor), queue.Target{Topic: topic}, "record", 3))
	r.wait(t, 1)
	r.quiet(t)
}

func (s *suite) testUnsupportedVersionIsTypedError(t *testing.T) {
	tr := s.h.Open(t)
	topic := s.topic()
	s.server(t, tr, queue.ServerConfig{Topic: topic, Version: "6.5"}, echo)
	c := s.client(t, tr, queue.ClientConfig{})
	for _, v := range []string{"", "6.0", "6.5"} {
		assert.NoError(t, c.Call(ctxFor(t, waitFor), queue.Target{Topic: topic, Version: v}, "echo", nil, nil), "version %q", v)
	}
	for _, v := range []string{"6.6", "7.0", "5.0"} {
		err := c.Call(ctxFor(t, waitFor), queue.Target{Topic: topic, Version: v}, "echo", nil, nil)
		assert.ErrorIs(t, err, queue.ErrUnsupportedVersion, "version %q", v)
	}
}

func (s *suite) testBadArgumentsIsTypedError(t *testing.T) {
	tr := s.h.Open(t)
	topic := s.topic()
	s.server(t, tr, queue.ServerConfig{Topic: topic}, echo)
	c := s.client(t, tr, queue.ClientConfig{})
	err := c.Call(ctxFor(t, waitFor), queue.Target{Topic: topic}, "echo", "not an object", nil)
	assert.ErrorIs(t, err, queue.ErrBadMessage)
}

func (s *suite) testPanickingHandlerBecomesError(t *testing.T) {
	tr := s.h.Open(t)
	topic := s.topic()
	s.server(t, tr, queue.ServerConfig{Topic: topic}, func(srv *queue.Server) {
		echo(srv)
		_ = queue.Handle(srv, "boom", func(context.Context, struct{}) (struct{}, error) { panic("kaboom") })
	})
	c := s.client(t, tr, queue.ClientConfig{})
	err := c.Call(ctxFor(t, waitFor), queue.Target{Topic: topic}, "boom", nil, nil)
	assert.ErrorIs(t, err, queue.ErrRemotePanic)
	assert.Contains(t, err.Error(), "kaboom")
	// The server is still serving.
	var out echoArgs
	require.NoError(t, c.Call(ctxFor(t, waitFor), queue.Target{Topic: topic}, "echo", echoArgs{N: 1}, &out))
	assert.Equal(t, 2, out.N)
}

func (s *suite) testFailedCastIsNotRedelivered(t *testing.T) {
	tr := s.h.Open(t)
	topic := s.topic()
	var calls atomic.Int32
	s.server(t, tr, queue.ServerConfig{Topic: topic}, func(srv *queue.Server) {
		_ = queue.Handle(srv, "fail", func(context.Context, struct{}) (struct{}, error) {
			calls.Add(1)
			return struct{}{}, errors.New("handled failure")
		})
		_ = queue.Handle(srv, "boom", func(context.Context, struct{}) (struct{}, error) {
			calls.Add(1)
			panic("cast panic")
		})
	})
	c := s.client(t, tr, queue.ClientConfig{})
	require.NoError(t, c.Cast(ctxFor(t, waitFor), queue.Target{Topic: topic}, "fail", nil))
	require.NoError(t, c.Cast(ctxFor(t, waitFor), queue.Target{Topic: topic}, "boom", nil))
	require.Eventually(t, func() bool { return calls.Load() == 2 }, waitFor, 10*time.Millisecond)
	time.Sleep(300 * time.Millisecond)
	assert.EqualValues(t, 2, calls.Load(), "a cast whose handler failed or panicked is acked, not redelivered")
}

func (s *suite) testStopDrainsInFlight(t *testing.T) {
	tr := s.h.Open(t)
	topic := s.topic()
	started := make(chan struct{}, 10)
	release := make(chan struct{})
	var finished atomic.Int32
	var canceled atomic.Bool
	srv, err := tr.NewServer(queue.ServerConfig{Topic: topic, MaxConcurrency: 2})
	require.NoError(t, err)
	require.NoError(t, queue.Handle(srv, "slow", func(ctx context.Context, _ int) (struct{}, error) {
		started <- struct{}{}
		<-release
		if ctx.Err() != nil {
			canceled.Store(true)
		}
		finished.Add(1)
		return struct{}{}, nil
	}))
	require.NoError(t, srv.Start(ctxFor(t, 30*time.Second)))
	c := s.client(t, tr, queue.ClientConfig{})
	for i := range 2 {
		require.NoError(t, c.Cast(ctxFor(t, waitFor), queue.Target{Topic: topic}, "slow", i))
	}
	for range 2 {
		select {
		case <-started:
		case <-time.After(waitFor):
			t.Fatal("handlers did not start")
		}
	}
	stopped := make(chan error, 1)
	go func() { stopped <- srv.Stop(ctxFor(t, waitFor)) }()
	select {
	case err := <-stopped:
		t.Fatalf("Stop returned (%v) with handlers in flight", err)
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	select {
	case err := <-stopped:
		require.NoError(t, err)
	case <-time.After(waitFor):
		t.Fatal("Stop did not return after the handlers finished")
	}
	assert.EqualValues(t, 2, finished.Load())
	assert.False(t, canceled.Load(), "a graceful stop must not cancel handlers")

	// Work sent after Stop waits in the queue for the next server.
	require.NoError(t, c.Cast(ctxFor(t, waitFor), queue.Target{Topic: topic}, "record", 9))
	r := newRecorder()
	s.server(t, tr, queue.ServerConfig{Topic: topic}, r.register("next"))
	r.wait(t, 1)
}

func (s *suite) testBoundedConcurrency(t *testing.T) {
	tr := s.h.Open(t)
	topic := s.topic()
	const limit = 3
	var running, peak atomic.Int32
	var done sync.WaitGroup
	s.server(t, tr, queue.ServerConfig{Topic: topic, Server: "h1", MaxConcurrency: limit}, func(srv *queue.Server) {
		_ = queue.Handle(srv, "work", func(context.Context, int) (struct{}, error) {
			defer done.Done()
			n := running.Add(1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			time.Sleep(30 * time.Millisecond)
			running.Add(-1)
			return struct{}{}, nil
		})
	})
	c := s.client(t, tr, queue.ClientConfig{})
	const n = 24
	done.Add(n)
	for i := range n {
		tgt := queue.Target{Topic: topic}
		if i%2 == 1 {
			tgt.Server = "h1" // both queues share the limit
		}
		require.NoError(t, c.Cast(ctxFor(t, waitFor), tgt, "work", i))
	}
	waited := make(chan struct{})
	go func() { done.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(waitFor):
		t.Fatal("work did not finish")
	}
	assert.LessOrEqual(t, peak.Load(), int32(limit))
	assert.Greater(t, peak.Load(), int32(1), "handlers should run concurrently")
}

func (s *suite) testRequestContextTravels(t *testing.T) {
	tr := s.h.Open(t)
	topic := s.topic()
	type seen struct {
		RC       queue.RequestContext
		Trace    queue.TraceContext
		Delivery queue.Delivery
	}
	casts := make(chan seen, 1)
	s.server(t, tr, queue.ServerConfig{Topic: topic, Version: "2.3"}, func(srv *queue.Server) {
		_ = queue.Handle(srv, "who", func(ctx context.Context, _ struct{}) (seen, error) {
			rc, _ := queue.RequestContextFrom(ctx)
			tc, _ := queue.TraceContextFrom(ctx)
			d, _ := queue.DeliveryFrom(ctx)
			v := seen{rc, tc, d}
			if d.Cast {
				casts <- v
			}
			return v, nil
		})
	})
	rc := queue.RequestContext{
		UserID: "u1", ProjectID: "p1", Roles: []string{"member", "reader"}, IsAdmin: true,
		RequestID: "req-1", GlobalRequestID: "req-global",
	}
	tc := queue.TraceContext{TraceParent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", TraceState: "congo=t61rcWkgMzE"}
	ctx := queue.WithTraceContext(queue.WithRequestContext(ctxFor(t, waitFor), rc), tc)
	c := s.client(t, tr, queue.ClientConfig{})
	var got seen
	require.NoError(t, c.Call(ctx, queue.Target{Topic: topic, Version: "2.1"}, "who", nil, &got))
	assert.Equal(t, rc, got.RC)
	assert.Equal(t, tc, got.Trace)
	assert.Equal(t, "who", got.Delivery.Method)
	assert.Equal(t, "2.1", got.Delivery.Version)
	assert.NotEmpty(t, got.Delivery.MessageID)
	assert.False(t, got.Delivery.Cast)

	require.NoError(t, c.Cast(ctx, queue.Target{Topic: topic}, "who", nil))
	select {
	case v := <-casts:
		assert.Equal(t, rc, v.RC)
		assert.True(t, v.Delivery.Cast)
		assert.NotEqual(t, got.Delivery.MessageID, v.Delivery.MessageID)
	case <-time.After(waitFor):
		t.Fatal("cast not delivered")
	}
}

func (s *suite) testConcurrentCallsGetTheirOwnReplies(t *testing.T) {
	tr := s.h.Open(t)
	topic := s.topic()
	s.server(t, tr, queue.ServerConfig{Topic: topic, MaxConcurrency: 8}, echo)
	s.server(t, tr, queue.ServerConfig{Topic: topic, MaxConcurrency: 8}, echo)
	c := s.client(t, tr, queue.ClientConfig{})
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var out echoArgs
			if err := c.Call(ctxFor(t, waitFor), queue.Target{Topic: topic}, "echo", echoArgs{N: i}, &out); err != nil {
				errs <- err
				return
			}
			if out.N != i+1 {
				errs <- fmt.Errorf("call %d got reply %d", i, out.N)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func (s *suite) testClosedClientFailsCalls(t *testing.T) {
	tr := s.h.Open(t)
	topic := s.topic()
	c, err := tr.NewClient(queue.ClientConfig{})
	require.NoError(t, err)
	errc := make(chan error, 1)
	go func() { errc <- c.Call(ctxFor(t, waitFor), queue.Target{Topic: topic}, "echo", nil, nil) }()
	time.Sleep(200 * time.Millisecond)
	require.NoError(t, c.Close())
	select {
	case err := <-errc:
		assert.ErrorIs(t, err, queue.ErrClosed)
	case <-time.After(waitFor):
		t.Fatal("pending Call did not return after Close")
	}
	assert.ErrorIs(t, c.Cast(ctxFor(t, waitFor), queue.Target{Topic: topic}, "x", nil), queue.ErrClosed)
	require.NoError(t, c.Close(), "Close is idempotent")
}

func (s *suite) testInvalidTargetIsRejected(t *testing.T) {
	tr := s.h.Open(t)
	c := s.client(t, tr, queue.ClientConfig{})
	ctx := ctxFor(t, waitFor)
	for _, tgt := range []queue.Target{
		{},
		{Topic: "has space"},
		{Topic: "reply_x"},
		{Topic: "ok", Server: "a/b"},
		{Topic: "ok", Version: "x.y"},
	} {
		assert.ErrorIs(t, c.Cast(ctx, tgt, "m", nil), queue.ErrInvalidTarget, "%+v", tgt)
		assert.ErrorIs(t, c.Call(ctx, tgt, "m", nil, nil), queue.ErrInvalidTarget, "%+v", tgt)
	}
	assert.ErrorIs(t, c.Call(ctx, queue.Target{Topic: "ok", Fanout: true}, "m", nil, nil), queue.ErrInvalidTarget)
}

type instancePayload struct {
	UUID  string `json:"uuid"`
	State string `json:"state"`
}

func (s *suite) testNotificationsArePublished(t *testing.T) {
	tr := s.h.Open(t)
	topic := s.topic()
	got := make(chan queue.Notification, 10)
	l, err := tr.ListenNotifications(ctxFor(t, 30*time.Second), queue.ListenerConfig{Topic: topic},
		func(_ context.Context, n queue.Notification) error {
			got <- n
			return nil
		})
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Stop(ctxFor(t, waitFor)) })

	n, err := tr.NewNotifier(queue.NotifierConfig{PublisherID: "nova-compute:host1", Topic: topic})
	require.NoError(t, err)
	ctx := queue.WithRequestContext(ctxFor(t, waitFor), queue.RequestContext{RequestID: "req-9", ProjectID: "p"})
	before := time.Now().Add(-time.Second)
	require.NoError(t, n.Info(ctx, "instance.create.end", queue.Payload{
		Name: "InstanceCreatePayload", Version: "1.12", Data: instancePayload{UUID: "i-1", State: "active"},
	}))
	require.NoError(t, n.Error(ctx, "instance.create.error", queue.Payload{
		Name: "InstanceCreatePayload", Version: "1.12", Data: instancePayload{UUID: "i-2", State: "error"},
	}))
	byType := map[string]queue.Notification{}
	for range 2 {
		select {
		case n := <-got:
			byType[n.EventType] = n
		case <-time.After(waitFor):
			t.Fatalf("notifications not received; got %v", byType)
		}
	}
	info := byType["instance.create.end"]
	assert.Equal(t, queue.PriorityInfo, info.Priority)
	assert.Equal(t, "nova-compute:host1", info.PublisherID)
	assert.NotEmpty(t, info.MessageID)
	assert.True(t, info.Timestamp.After(before))
	assert.Equal(t, "InstanceCreatePayload", info.Payload.Name)
	assert.Equal(t, "nova", info.Payload.Namespace)
	assert.Equal(t, "1.12", info.Payload.Version)
	var p instancePayload
	require.NoError(t, info.Payload.Decode(&p))
	assert.Equal(t, instancePayload{UUID: "i-1", State: "active"}, p)
	require.NotNil(t, info.Context)
	assert.Equal(t, "req-9", info.Context.RequestID)
	assert.Equal(t, queue.PriorityError, byType["instance.create.error"].Priority)
}
