package api_test

import (
	"context"
	"fmt"

	"github.com/novakit/novakit/api"
	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/identity"
	"github.com/novakit/novakit/store"
)

// printConductor is a Conductor that prints what it is handed; the real
// one is conductor.Client (over the queue) or conductor.Service.
type printConductor struct{ *recorder }

func (printConductor) ScheduleAndBuildInstances(_ context.Context, req *compute.BuildRequest) error {
	fmt.Println("build", len(req.InstanceUUIDs), "instances of flavor", req.Spec.Flavor.Name)
	return nil
}

// Example creates servers through the Go-level compute API: the caller
// comes from the context, the instances are stored in state building /
// scheduling and the build is handed to the conductor.
func Example() {
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite://:memory:", nil)
	if err != nil {
		panic(err)
	}
	defer st.Close()
	_, _ = st.Flavors().Create(ctx, &compute.Flavor{FlavorID: "1", Name: "m1.tiny", VCPUs: 1, MemoryMB: 512, RootGB: 1, IsPublic: true})

	a, err := api.New(api.Options{Store: st, Conductor: printConductor{&recorder{}}})
	if err != nil {
		panic(err)
	}
	caller := identity.NewContext(ctx, &identity.Credentials{UserID: "alice", ProjectID: "p1", Roles: []string{"member", "reader"}})
	res, err := a.CreateServers(caller, api.CreateRequest{Name: "web", FlavorRef: "1", ImageRef: "70a599e0-31e7-49b7-b260-868f441e862b", MinCount: 2})
	if err != nil {
		panic(err)
	}
	for _, inst := range res.Instances {
		fmt.Println(inst.Name, inst.Status(), inst.ProjectID)
	}
	// Another project does not see them.
	other := identity.NewContext(ctx, &identity.Credentials{UserID: "bob", ProjectID: "p2", Roles: []string{"member", "reader"}})
	_, err = a.GetServer(other, res.Instances[0].UUID, "")
	fmt.Println(err != nil)
	// Output:
	// build 2 instances of flavor m1.tiny
	// web-1 BUILD p1
	// web-2 BUILD p1
	// true
}
