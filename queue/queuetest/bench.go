package queuetest

import (
	"context"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/novakit/novakit/queue"
)

type benchArgs struct {
	InstanceUUID string `json:"instance_uuid"`
	Host         string `json:"host"`
	N            int    `json:"n"`
}

func startBenchServer(b *testing.B, tr *queue.Transport, topic string, handler func(context.Context, benchArgs) (benchArgs, error)) {
	srv, err := tr.NewServer(queue.ServerConfig{Topic: topic, Server: "h1", MaxConcurrency: 16})
	if err != nil {
		b.Fatal(err)
	}
	if err := queue.Handle(srv, "m", handler); err != nil {
		b.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = srv.Stop(context.Background()) })
}

// BenchmarkCall measures, on the transport open returns, the round trip of one Call (client → server →
// reply) with a small argument, one call at a time, and reports the median.
func BenchmarkCall(b *testing.B, open func(b *testing.B) *queue.Transport) {
	func(b *testing.B, tr *queue.Transport) {
		topic := benchTopic(b)
		startBenchServer(b, tr, topic, func(_ context.Context, a benchArgs) (benchArgs, error) { return a, nil })
		c, err := tr.NewClient(queue.ClientConfig{})
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		ctx := context.Background()
		args := benchArgs{InstanceUUID: "8a1c5b0e-6e3a-4b8e-9f39-2a0f6c1e7d11", Host: "host1"}
		tgt := queue.Target{Topic: topic, Server: "h1", Version: "1.0"}
		var out benchArgs
		for range 100 { // warm up: reply queue, declarations
			if err := c.Call(ctx, tgt, "m", args, &out); err != nil {
				b.Fatal(err)
			}
		}
		lat := make([]time.Duration, 0, b.N)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			args.N = i
			start := time.Now()
			if err := c.Call(ctx, tgt, "m", args, &out); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(start))
		}
		b.StopTimer()
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1e3, "p50-µs")
		b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds())/1e3, "p99-µs")
	}(b, open(b))
}

// BenchmarkCast measures, on the transport open returns, durable cast throughput (on AMQP: persistent
// messages on a durable queue, publisher confirms; Cast returns when the
// broker confirmed) from one goroutine ("serial") and from 64 or 256
// ("parallelN"). By default nothing consumes during the run, so the figure
// is the publish rate alone; the "-consumed" variants run a server
// (MaxConcurrency 16) draining the queue at the same time, which on a small
// machine competes with the broker and the publishers for CPU.
func BenchmarkCast(b *testing.B, open func(b *testing.B) *queue.Transport) {
	func(b *testing.B, tr *queue.Transport) {
		for _, v := range []struct {
			name     string
			par      int
			consumed bool
		}{
			{"serial", 1, false},
			{"parallel64", 64, false},
			{"parallel256", 256, false},
			{"parallel64-consumed", 64, true},
		} {
			b.Run(v.name, func(b *testing.B) {
				topic := benchTopic(b)
				if v.consumed {
					startBenchServer(b, tr, topic, func(_ context.Context, a benchArgs) (benchArgs, error) { return benchArgs{}, nil })
				}
				c, err := tr.NewClient(queue.ClientConfig{})
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				ctx := context.Background()
				tgt := queue.Target{Topic: topic, Server: "h1"}
				args := benchArgs{InstanceUUID: "8a1c5b0e-6e3a-4b8e-9f39-2a0f6c1e7d11", Host: "host1"}
				if err := c.Cast(ctx, tgt, "m", args); err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				b.ResetTimer()
				start := time.Now()
				if v.par == 1 {
					for i := 0; i < b.N; i++ {
						if err := c.Cast(ctx, tgt, "m", args); err != nil {
							b.Fatal(err)
						}
					}
				} else {
					b.SetParallelism(max(1, v.par/runtime.GOMAXPROCS(0)))
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							if err := c.Cast(ctx, tgt, "m", args); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "casts/s")
			})
		}
	}(b, open(b))
}

// benchTopic is a fresh topic per benchmark run, so that messages left on a
// shared broker by an earlier run do not count.
func benchTopic(b *testing.B) string {
	return "bench_" + strings.NewReplacer("/", "_", "-", "_").Replace(b.Name()) + "_" + strconv.FormatInt(time.Now().UnixNano(), 36)
}
