package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/store"
)

func recAction(instanceUUID, action string, start time.Time) *compute.InstanceAction {
	return &compute.InstanceAction{
		Action: action, InstanceUUID: instanceUUID, RequestID: "req-" + uuid.NewString(),
		UserID: "u", ProjectID: "p", StartTime: start,
	}
}

func requestIDs(as []*compute.InstanceAction) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.RequestID
	}
	return out
}

func testInstanceActions(t *testing.T, newStore func(t *testing.T) *store.Store) {
	ctx := context.Background()

	t.Run("StartIsIdempotentByRequestID", func(t *testing.T) {
		ia := newStore(t).InstanceActions()
		in := recAction(uuid.NewString(), "create", time.Time{})
		first, err := ia.Start(ctx, in)
		require.NoError(t, err)
		assert.NotZero(t, first.ID)
		assert.False(t, first.StartTime.IsZero(), "start time defaults to now")
		assert.Equal(t, first.StartTime, first.UpdatedAt)
		again, err := ia.Start(ctx, in)
		require.NoError(t, err)
		assert.Equal(t, first, again)

		other := *in
		other.Action = "delete"
		_, err = ia.Start(ctx, &other)
		requireStateConflict(t, err)

		sameReqOtherInstance := *in
		sameReqOtherInstance.InstanceUUID = uuid.NewString()
		o, err := ia.Start(ctx, &sameReqOtherInstance)
		require.NoError(t, err)
		assert.NotEqual(t, first.ID, o.ID)
	})

	t.Run("BadInputNamesTheField", func(t *testing.T) {
		ia := newStore(t).InstanceActions()
		for _, c := range []struct {
			field string
			mod   func(*compute.InstanceAction)
		}{
			{"instance_uuid", func(a *compute.InstanceAction) { a.InstanceUUID = "not-a-uuid" }},
			{"request_id", func(a *compute.InstanceAction) { a.RequestID = "" }},
			{"action", func(a *compute.InstanceAction) { a.Action = "" }},
		} {
			a := recAction(uuid.NewString(), "create", time.Time{})
			c.mod(a)
			_, err := ia.Start(ctx, a)
			requireInvalid(t, err, c.field)
		}
		a, err := ia.Start(ctx, recAction(uuid.NewString(), "create", time.Time{}))
		require.NoError(t, err)
		_, err = ia.StartEvent(ctx, a.InstanceUUID, a.RequestID, "", "h", time.Time{})
		requireInvalid(t, err, "event")
		_, err = ia.FinishEvent(ctx, a.InstanceUUID, a.RequestID, "e", "Maybe", "", "")
		requireInvalid(t, err, "result")
	})

	t.Run("EventsAndFinish", func(t *testing.T) {
		ia := newStore(t).InstanceActions()
		inst := uuid.NewString()
		a, err := ia.Start(ctx, recAction(inst, "create", time.Time{}))
		require.NoError(t, err)

		_, err = ia.StartEvent(ctx, inst, "req-missing", "compute_build", "h1", time.Time{})
		requireNotFound(t, err)
		_, err = ia.FinishEvent(ctx, inst, a.RequestID, "never_started", compute.EventSuccess, "", "")
		requireNotFound(t, err)

		t0 := time.Now().UTC().Truncate(time.Microsecond)
		sched, err := ia.StartEvent(ctx, inst, a.RequestID, "schedule_instances", "", t0)
		require.NoError(t, err)
		assert.Equal(t, t0, sched.StartTime)
		again, err := ia.StartEvent(ctx, inst, a.RequestID, "schedule_instances", "", t0.Add(time.Second))
		require.NoError(t, err)
		assert.Equal(t, sched, again, "a running event is not started twice")
		done, err := ia.FinishEvent(ctx, inst, a.RequestID, "schedule_instances", compute.EventSuccess, "", "")
		require.NoError(t, err)
		assert.Equal(t, compute.EventSuccess, done.Result)
		assert.False(t, done.FinishTime.IsZero())
		retry, err := ia.FinishEvent(ctx, inst, a.RequestID, "schedule_instances", compute.EventError, "tb", "")
		require.NoError(t, err)
		assert.Equal(t, done, retry, "finishing a finished event changes nothing")

		_, err = ia.StartEvent(ctx, inst, a.RequestID, "compute_build", "h1", t0.Add(2*time.Second))
		require.NoError(t, err)
		failed, err := ia.FinishEvent(ctx, inst, a.RequestID, "compute_build", compute.EventError, "Traceback…", "boom")
		require.NoError(t, err)
		assert.Equal(t, "h1", failed.Host)
		assert.Equal(t, "Traceback…", failed.Traceback)
		assert.Equal(t, "boom", failed.Details)
		// A reschedule runs the step again: a new event.
		_, err = ia.StartEvent(ctx, inst, a.RequestID, "compute_build", "h2", t0.Add(3*time.Second))
		require.NoError(t, err)

		got, err := ia.Get(ctx, inst, a.RequestID)
		require.NoError(t, err)
		assert.Equal(t, "Error", got.Message, "an event that failed marks the action")
		assert.True(t, got.FinishTime.IsZero())
		require.Len(t, got.Events, 3)
		assert.Equal(t, "h2", got.Events[0].Host, "newest first")
		assert.True(t, got.Events[0].FinishTime.IsZero())
		assert.Equal(t, "h1", got.Events[1].Host)
		assert.Equal(t, "schedule_instances", got.Events[2].Event)

		fin, err := ia.Finish(ctx, inst, a.RequestID, "")
		require.NoError(t, err)
		assert.False(t, fin.FinishTime.IsZero())
		assert.Equal(t, "Error", fin.Message, "an empty message keeps the action's")
		fin2, err := ia.Finish(ctx, inst, a.RequestID, "done")
		require.NoError(t, err)
		assert.Equal(t, fin.FinishTime, fin2.FinishTime, "a repeated finish keeps the first time")
		assert.Equal(t, "done", fin2.Message)

		_, err = ia.Finish(ctx, inst, "req-missing", "")
		requireNotFound(t, err)
		_, err = ia.Get(ctx, inst, "req-missing")
		requireNotFound(t, err)
	})

	t.Run("ListNewestFirstWithPagingAndChanges", func(t *testing.T) {
		ia := newStore(t).InstanceActions()
		inst := uuid.NewString()
		base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		var want []string
		for i := range 5 {
			a, err := ia.Start(ctx, recAction(inst, "reboot", base.Add(time.Duration(i)*time.Minute)))
			require.NoError(t, err)
			want = append([]string{a.RequestID}, want...)
		}
		_, err := ia.Start(ctx, recAction(uuid.NewString(), "reboot", base))
		require.NoError(t, err)

		all, err := ia.List(ctx, inst, store.ActionFilter{}, compute.ListOptions{})
		require.NoError(t, err)
		assert.Equal(t, want, requestIDs(all))
		assert.Empty(t, all[0].Events, "listings carry no events")

		var paged []string
		marker := ""
		for {
			page, err := ia.List(ctx, inst, store.ActionFilter{}, compute.ListOptions{Limit: 2, Marker: marker})
			require.NoError(t, err)
			if len(page) == 0 {
				break
			}
			paged = append(paged, requestIDs(page)...)
			marker = page[len(page)-1].RequestID
		}
		assert.Equal(t, want, paged)

		_, err = ia.List(ctx, inst, store.ActionFilter{}, compute.ListOptions{Marker: "req-nope"})
		requireMarkerNotFound(t, err, "req-nope")

		since, err := ia.List(ctx, inst, store.ActionFilter{ChangesSince: base.Add(3 * time.Minute)}, compute.ListOptions{})
		require.NoError(t, err)
		assert.Equal(t, want[:2], requestIDs(since))
		window, err := ia.List(ctx, inst, store.ActionFilter{ChangesSince: base.Add(time.Minute), ChangesBefore: base.Add(2 * time.Minute)}, compute.ListOptions{})
		require.NoError(t, err)
		assert.Equal(t, want[2:4], requestIDs(window))

		none, err := ia.List(ctx, uuid.NewString(), store.ActionFilter{}, compute.ListOptions{})
		require.NoError(t, err)
		assert.Empty(t, none)
	})
}
