package compute_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/novakit/novakit/compute"
)

// The state table decides whether an action may run, and which
// compare-and-swap update starts it.
func ExampleCheckAction() {
	inst := &compute.Instance{UUID: "6f1d", VMState: compute.VMActive, Host: "host1", LaunchedAt: time.Now()}
	if err := compute.CheckAction(inst, compute.ActionStop, compute.CheckOptions{}); err != nil {
		fmt.Println(err)
		return
	}
	rule, _ := compute.RuleFor(compute.ActionStop)
	u := rule.Transition()
	fmt.Println(u.ExpectedVMStates, *u.TaskState)

	inst.VMState = compute.VMStopped
	err := compute.CheckAction(inst, compute.ActionStop, compute.CheckOptions{})
	fmt.Println(errors.Is(err, compute.ErrInvalidState), err)
	// Output:
	// [active error] powering-off
	// true Cannot 'stop' instance 6f1d while it is in vm_state stopped
}

func ExampleStatus() {
	fmt.Println(compute.Status(compute.VMActive, compute.TaskRebootingHard))
	fmt.Println(compute.Status(compute.VMResized, compute.TaskNone))
	// Output:
	// HARD_REBOOT
	// VERIFY_RESIZE
}
