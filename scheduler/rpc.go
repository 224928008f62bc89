package scheduler

import (
	"context"
	"errors"
	"fmt"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/queue"
)

// RPC names: the scheduler listens on Topic; RPCVersion is the API version
// its server implements and its client asks for (Nova's scheduler RPC API
// 4.5 carries select_destinations with return_objects/return_alternates).
const (
	Topic                       = "scheduler"
	RPCVersion                  = "4.5"
	MethodSelectDestinations    = "select_destinations"
	ErrorCodeNoValidHost        = "compute.no_valid_host"
	ErrorCodeInvalidInput       = "compute.invalid_input"
	ErrorCodeSchedulerNotFound  = "compute.not_found"
	errorCodeSchedulerTransient = "compute.transient"
)

// Selector is what the RPC server serves and the RPC client offers:
// *Scheduler and *Client implement it.
type Selector interface {
	SelectDestinations(ctx context.Context, spec *compute.RequestSpec, instanceUUIDs []string) ([][]compute.Selection, error)
}

var (
	_ Selector = (*Scheduler)(nil)
	_ Selector = (*Client)(nil)
)

// RegisterErrors registers in codes the wire codes of the errors the
// scheduler's RPC returns (compute.ErrNoValidHost, ErrInvalidInput,
// ErrNotFound, ErrTransient), so errors.Is works across processes. Both
// the server's and the client's registries need them. A sentinel or code
// someone else already registered is left as it is.
func RegisterErrors(codes *queue.ErrorCodes) error {
	for _, e := range []struct {
		code string
		err  error
	}{
		{ErrorCodeNoValidHost, compute.ErrNoValidHost},
		{ErrorCodeInvalidInput, compute.ErrInvalidInput},
		{ErrorCodeSchedulerNotFound, compute.ErrNotFound},
		{errorCodeSchedulerTransient, compute.ErrTransient},
	} {
		if err := codes.Register(e.code, e.err); err != nil && !errors.Is(err, queue.ErrDuplicate) {
			return err
		}
	}
	return nil
}

type selectArgs struct {
	Spec          *compute.RequestSpec `json:"request_spec"`
	InstanceUUIDs []string             `json:"instance_uuids"`
}

// RegisterServer registers the scheduler's RPC methods on srv (a server
// on Topic, created with Version RPCVersion and an Errors registry passed
// through RegisterErrors). Call it before srv.Start.
func RegisterServer(srv *queue.Server, sel Selector) error {
	return queue.Handle(srv, MethodSelectDestinations, func(ctx context.Context, a selectArgs) ([][]compute.Selection, error) {
		return sel.SelectDestinations(ctx, a.Spec, a.InstanceUUIDs)
	})
}

// Client calls a scheduler over the queue. Safe for concurrent use.
type Client struct {
	c      *queue.Client
	target queue.Target
}

// NewClient returns a Client using c (whose ClientConfig.Errors should
// have gone through RegisterErrors).
func NewClient(c *queue.Client) *Client {
	return &Client{c: c, target: queue.Target{Topic: Topic, Version: RPCVersion}}
}

// SelectDestinations calls select_destinations on any scheduler of the
// topic and waits for the answer (until ctx's deadline or the queue
// client's timeout). Errors keep their identity: errors.Is(err,
// compute.ErrNoValidHost) holds for a remote NoValidHost.
func (c *Client) SelectDestinations(ctx context.Context, spec *compute.RequestSpec, instanceUUIDs []string) ([][]compute.Selection, error) {
	var out [][]compute.Selection
	if err := c.c.Call(ctx, c.target, MethodSelectDestinations, selectArgs{Spec: spec, InstanceUUIDs: instanceUUIDs}, &out); err != nil {
		return nil, fmt.Errorf("scheduler: select_destinations: %w", err)
	}
	return out, nil
}
