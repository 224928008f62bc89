package scheduler_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/placement"
	"github.com/novakit/novakit/queue"
	"github.com/novakit/novakit/scheduler"
)

// A scheduler serving select_destinations on the queue's "scheduler"
// topic, and a conductor-side client whose NoValidHost keeps its identity.
func ExampleRegisterServer() {
	ctx := context.Background()
	ix := placement.New(placement.Options{}) // no compute nodes yet
	s, _ := scheduler.New(scheduler.Config{Placement: ix, Hosts: hosts{}})

	codes := queue.NewErrorCodes()
	_ = scheduler.RegisterErrors(codes)
	tr, _ := queue.Open(ctx, "mem://")
	defer tr.Close()
	srv, _ := tr.NewServer(queue.ServerConfig{Topic: scheduler.Topic, Version: scheduler.RPCVersion, Errors: codes})
	_ = scheduler.RegisterServer(srv, s)
	_ = srv.Start(ctx)
	defer srv.Stop(ctx)

	qc, _ := tr.NewClient(queue.ClientConfig{Errors: codes})
	defer qc.Close()
	client := scheduler.NewClient(qc)
	spec := &compute.RequestSpec{ProjectID: "demo", UserID: "alice", Flavor: compute.Flavor{VCPUs: 1, MemoryMB: 512}}
	_, err := client.SelectDestinations(ctx, spec, []string{"a0000000-0000-4000-8000-000000000001"})
	fmt.Println(errors.Is(err, compute.ErrNoValidHost))
	// Output: true
}
