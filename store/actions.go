package store

import (
	"context"
	"errors"
	"time"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/store/internal/ent"
	"github.com/novakit/novakit/store/internal/ent/instanceaction"
	"github.com/novakit/novakit/store/internal/ent/instanceactionevent"
	"github.com/novakit/novakit/store/internal/ent/predicate"
)

// InstanceActions is the store's view of instances' action logs
// (os-instance-actions): one action per API request that acted on an
// instance, keyed by (instance uuid, request id), and the events the
// services recorded while they carried it out. Get one with
// [Store.InstanceActions]; it is a small value, safe for concurrent use
// by many goroutines and processes. Writes to one action are serialized
// on its row.
type InstanceActions struct{ s *Store }

// InstanceActions returns the instance action repository.
func (s *Store) InstanceActions() InstanceActions { return InstanceActions{s} }

// ActionFilter narrows [InstanceActions.List] to actions updated in a
// time window (the API's changes-since and changes-before, both
// inclusive). Zero times do not filter.
type ActionFilter struct {
	ChangesSince  time.Time
	ChangesBefore time.Time
}

func actionKey(instanceUUID, requestID string) string { return instanceUUID + " " + requestID }

// Start records that a request started an action on an instance and
// returns the action as stored (without events). StartTime defaults to
// now; UpdatedAt is the start time. InstanceUUID must be a UUID and
// Action and RequestID are required, else a *compute.InvalidInputError
// names the field.
//
// Start is idempotent by request id: when the instance already has an
// action for the request id (a retried request, or a second service
// starting the same request), the stored action is returned unchanged.
// If that action has a different name the error is a *ConflictError.
func (r InstanceActions) Start(ctx context.Context, a *compute.InstanceAction) (*compute.InstanceAction, error) {
	if a == nil {
		return nil, compute.InvalidInput("action", "is required")
	}
	if _, err := uuidField("instance_uuid", a.InstanceUUID, false); err != nil {
		return nil, err
	}
	if err := required("request_id", a.RequestID); err != nil {
		return nil, err
	}
	if err := required("action", a.Action); err != nil {
		return nil, err
	}
	start := norm(a.StartTime)
	if start.IsZero() {
		start = r.s.ts()
	}
	key := actionKey(a.InstanceUUID, a.RequestID)
	var row *ent.InstanceAction
	err := r.s.writeOne(ctx, func(c *ent.Client) (err error) {
		row, err = c.InstanceAction.Create().
			SetAction(a.Action).SetInstanceUUID(a.InstanceUUID).SetRequestID(a.RequestID).
			SetUserID(a.UserID).SetProjectID(a.ProjectID).SetStartTime(start).
			SetMessage(a.Message).SetUpdatedAt(start).Save(ctx)
		return err
	})
	if err == nil {
		return toAction(row), nil
	}
	err = r.s.classify(err, "instance action", key)
	var dup *compute.DuplicateError
	if !errors.As(err, &dup) {
		return nil, err
	}
	row, err = r.s.w.InstanceAction.Query().
		Where(instanceaction.InstanceUUID(a.InstanceUUID), instanceaction.RequestID(a.RequestID)).Only(ctx)
	if err != nil {
		return nil, r.s.classify(err, "instance action", key)
	}
	if row.Action != a.Action {
		return nil, conflict("instance action", key, "the request already started action %q", row.Action)
	}
	return toAction(row), nil
}

// touch locks the action's row until the transaction ends, sets its
// updated_at and returns its id; a missing action gives ErrNotFound.
// (It locks with a read first rather than counting the rows an UPDATE
// changed: MySQL counts only rows whose values changed.)
func (r InstanceActions) touch(ctx context.Context, tx *ent.Tx, instanceUUID, requestID string, at time.Time) (int, error) {
	key := actionKey(instanceUUID, requestID)
	id, err := lockRows(r.s, tx.InstanceAction.Query().
		Where(instanceaction.InstanceUUID(instanceUUID), instanceaction.RequestID(requestID))).OnlyID(ctx)
	if err != nil {
		return 0, r.s.classify(err, "instance action", key)
	}
	err = tx.InstanceAction.UpdateOneID(id).SetUpdatedAt(at).Exec(ctx)
	return id, r.s.classify(err, "instance action", key)
}

// Finish records that the action's request is done and returns the
// action as stored (without events). The first Finish sets FinishTime;
// a repeated one keeps it. A non-empty message replaces the action's
// message. A missing action gives ErrNotFound.
func (r InstanceActions) Finish(ctx context.Context, instanceUUID, requestID, message string) (*compute.InstanceAction, error) {
	var out *compute.InstanceAction
	key := actionKey(instanceUUID, requestID)
	err := r.s.withTx(ctx, func(tx *ent.Tx) error {
		now := r.s.ts()
		id, err := r.touch(ctx, tx, instanceUUID, requestID, now)
		if err != nil {
			return err
		}
		up := tx.InstanceAction.Update().Where(instanceaction.ID(id), instanceaction.FinishTimeIsNil()).SetFinishTime(now)
		if err := up.Exec(ctx); err != nil {
			return r.s.classify(err, "instance action", key)
		}
		if message != "" {
			if err := tx.InstanceAction.UpdateOneID(id).SetMessage(message).Exec(ctx); err != nil {
				return r.s.classify(err, "instance action", key)
			}
		}
		row, err := tx.InstanceAction.Get(ctx, id)
		if err != nil {
			return r.s.classify(err, "instance action", key)
		}
		out = toAction(row)
		return nil
	})
	return out, err
}

// StartEvent records that a service started a step (event) of the
// action, on host, at start (zero: now), and returns the event. It also
// sets the action's UpdatedAt to start, as Nova does. A missing action
// gives ErrNotFound; an empty event name a *compute.InvalidInputError
// naming "event".
//
// Idempotent while the event runs: starting an event of the same name
// that is started and not finished returns the running one. Once the
// event has finished, a new start (a reschedule running the step again)
// records a new event.
func (r InstanceActions) StartEvent(ctx context.Context, instanceUUID, requestID, event, host string, start time.Time) (*compute.InstanceActionEvent, error) {
	if err := required("event", event); err != nil {
		return nil, err
	}
	if err := maxLen("host", host, maxName); err != nil {
		return nil, err
	}
	start = norm(start)
	if start.IsZero() {
		start = r.s.ts()
	}
	var out *compute.InstanceActionEvent
	err := r.s.withTx(ctx, func(tx *ent.Tx) error {
		id, err := r.touch(ctx, tx, instanceUUID, requestID, start)
		if err != nil {
			return err
		}
		running, err := tx.InstanceActionEvent.Query().
			Where(instanceactionevent.ActionID(id), instanceactionevent.Event(event), instanceactionevent.FinishTimeIsNil()).
			Order(ent.Desc(instanceactionevent.FieldID)).First(ctx)
		switch {
		case err == nil:
			out = toActionEvent(running)
			return nil
		case !ent.IsNotFound(err):
			return r.s.classify(err, "instance action event", event)
		}
		row, err := tx.InstanceActionEvent.Create().SetActionID(id).SetEvent(event).
			SetStartTime(start).SetHost(host).Save(ctx)
		if err != nil {
			return r.s.classify(err, "instance action event", event)
		}
		out = toActionEvent(row)
		return nil
	})
	return out, err
}

// FinishEvent records the end of the newest running event of that name
// of the action: FinishTime now, the result (compute.EventSuccess or
// compute.EventError, else a *compute.InvalidInputError naming
// "result"), traceback and details. Finishing with EventError also sets
// the action's message to "Error", as Nova does. The action's UpdatedAt
// becomes now.
//
// A missing action or an event that was never started gives
// ErrNotFound. Idempotent: when no event of that name is running but one
// has finished (a retry), the newest finished one is returned unchanged.
func (r InstanceActions) FinishEvent(ctx context.Context, instanceUUID, requestID, event, result, traceback, details string) (*compute.InstanceActionEvent, error) {
	if result != compute.EventSuccess && result != compute.EventError {
		return nil, compute.InvalidInput("result", "%q is not one of Success, Error", result)
	}
	var out *compute.InstanceActionEvent
	err := r.s.withTx(ctx, func(tx *ent.Tx) error {
		now := r.s.ts()
		id, err := r.touch(ctx, tx, instanceUUID, requestID, now)
		if err != nil {
			return err
		}
		evs, err := tx.InstanceActionEvent.Query().
			Where(instanceactionevent.ActionID(id), instanceactionevent.Event(event)).
			Order(ent.Desc(instanceactionevent.FieldID)).All(ctx)
		if err != nil {
			return r.s.classify(err, "instance action event", event)
		}
		if len(evs) == 0 {
			return compute.NotFound("instance action event", event)
		}
		ev := evs[0]
		for _, e := range evs {
			if e.FinishTime == nil {
				ev = e
				break
			}
		}
		if ev.FinishTime != nil {
			out = toActionEvent(ev)
			return nil
		}
		// Exec, not Save: Save reads the row back, and every column it
		// would read is known here.
		err = tx.InstanceActionEvent.UpdateOneID(ev.ID).SetFinishTime(now).SetResult(result).
			SetTraceback(traceback).SetDetails(details).Exec(ctx)
		if err != nil {
			return r.s.classify(err, "instance action event", event)
		}
		ev.FinishTime, ev.Result, ev.Traceback, ev.Details = &now, result, traceback, details
		if result == compute.EventError {
			if err := tx.InstanceAction.UpdateOneID(id).SetMessage("Error").Exec(ctx); err != nil {
				return r.s.classify(err, "instance action", actionKey(instanceUUID, requestID))
			}
		}
		out = toActionEvent(ev)
		return nil
	})
	return out, err
}

// List returns the instance's actions newest first (by start time, then
// by row id), without their events, as the API's index shows them. The
// filter keeps actions updated in its window. Paging: opts.Limit and
// opts.Marker (a request id of the instance's; an unknown one gives a
// *compute.MarkerNotFoundError); opts.Sort is refused with a
// *compute.InvalidInputError. Whether the instance exists (or was
// deleted) is not checked: an instance without actions lists none.
func (r InstanceActions) List(ctx context.Context, instanceUUID string, f ActionFilter, opts compute.ListOptions) ([]*compute.InstanceAction, error) {
	if err := checkPage(opts, "instance actions"); err != nil {
		return nil, err
	}
	preds := []predicate.InstanceAction{instanceaction.InstanceUUID(instanceUUID)}
	if !f.ChangesSince.IsZero() {
		preds = append(preds, instanceaction.UpdatedAtGTE(norm(f.ChangesSince)))
	}
	if !f.ChangesBefore.IsZero() {
		preds = append(preds, instanceaction.UpdatedAtLTE(norm(f.ChangesBefore)))
	}
	keys := []keyCol{{col: instanceaction.FieldStartTime, desc: true}, {col: instanceaction.FieldID, desc: true}}
	if opts.Marker != "" {
		m, err := r.s.r.InstanceAction.Query().
			Where(instanceaction.InstanceUUID(instanceUUID), instanceaction.RequestID(opts.Marker)).Only(ctx)
		if ent.IsNotFound(err) {
			return nil, &compute.MarkerNotFoundError{Marker: opts.Marker}
		}
		if err != nil {
			return nil, r.s.classify(err, "instance action", opts.Marker)
		}
		keys[0].val, keys[1].val = m.StartTime, m.ID
		preds = append(preds, afterKeys(keys))
	}
	q := r.s.r.InstanceAction.Query().Where(preds...).Order(orderKeys(keys))
	if opts.Limit > 0 {
		q = q.Limit(opts.Limit)
	}
	rows, err := q.All(ctx)
	if err != nil {
		return nil, r.s.classify(err, "instance actions", instanceUUID)
	}
	out := make([]*compute.InstanceAction, len(rows))
	for i, row := range rows {
		out[i] = toAction(row)
	}
	return out, nil
}

// Get returns the instance's action for the request id with its events,
// newest first, or an error satisfying errors.Is(err,
// compute.ErrNotFound).
func (r InstanceActions) Get(ctx context.Context, instanceUUID, requestID string) (*compute.InstanceAction, error) {
	row, err := r.s.r.InstanceAction.Query().
		Where(instanceaction.InstanceUUID(instanceUUID), instanceaction.RequestID(requestID)).
		WithEvents(func(q *ent.InstanceActionEventQuery) {
			q.Order(ent.Desc(instanceactionevent.FieldStartTime), ent.Desc(instanceactionevent.FieldID))
		}).Only(ctx)
	if err != nil {
		return nil, r.s.classify(err, "instance action", actionKey(instanceUUID, requestID))
	}
	a := toAction(row)
	for _, e := range row.Edges.Events {
		a.Events = append(a.Events, *toActionEvent(e))
	}
	return a, nil
}

func toAction(e *ent.InstanceAction) *compute.InstanceAction {
	a := &compute.InstanceAction{
		ID: int64(e.ID), Action: e.Action, InstanceUUID: e.InstanceUUID, RequestID: e.RequestID,
		UserID: e.UserID, ProjectID: e.ProjectID, StartTime: e.StartTime.UTC(), Message: e.Message,
		UpdatedAt: e.UpdatedAt.UTC(),
	}
	if e.FinishTime != nil {
		a.FinishTime = e.FinishTime.UTC()
	}
	return a
}

func toActionEvent(e *ent.InstanceActionEvent) *compute.InstanceActionEvent {
	ev := &compute.InstanceActionEvent{
		Event: e.Event, StartTime: e.StartTime.UTC(), Result: e.Result, Traceback: e.Traceback,
		Host: e.Host, Details: e.Details,
	}
	if e.FinishTime != nil {
		ev.FinishTime = e.FinishTime.UTC()
	}
	return ev
}
