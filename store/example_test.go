package store_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/store"
)

// Open a store, create an instance and move it through a state change
// with a compare-and-swap; a second writer with the same expectation
// loses.
func Example() {
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite://:memory:", nil)
	if err != nil {
		panic(err)
	}
	defer st.Close()

	inst, err := st.Instances().Create(ctx, &compute.Instance{
		Name: "web-1", ProjectID: "demo", UserID: "alice",
		Flavor:  compute.Flavor{FlavorID: "1", Name: "m1.tiny", VCPUs: 1, MemoryMB: 512, RootGB: 1},
		VMState: compute.VMActive, Host: "host1",
	})
	if err != nil {
		panic(err)
	}
	rule, _ := compute.RuleFor(compute.ActionStop)
	inst, err = st.Instances().Update(ctx, inst.UUID, rule.Transition())
	fmt.Println(inst.Status(), inst.TaskState, err)

	_, err = st.Instances().Update(ctx, inst.UUID, rule.Transition())
	var conflict *compute.StateConflictError
	fmt.Println(errors.As(err, &conflict), conflict.ActualTask)
	// Output:
	// ACTIVE powering-off <nil>
	// true powering-off
}
