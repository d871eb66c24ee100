package bench

import (
	"context"
	"fmt"
	"time"
)

// runInitialSync: one user in Rooms rooms with Messages messages each;
// times Repeat initial syncs, then Repeat incremental syncs each after one
// new message, and records the response sizes.
func runInitialSync(ctx context.Context, o Options, res *Result) error {
	r, k := o.Rooms, o.Messages
	res.Params = map[string]any{"rooms": r, "messages": k, "repeat": o.Repeat, "registration": o.flow()}
	us, err := o.users(ctx, "i", 1)
	if err != nil {
		return err
	}
	u := us[0]
	o.progress("initialsync: creating %d rooms with %d messages each", r, k)
	rooms := make([]string, r)
	if err := parallel(ctx, r, o.SetupWorkers, func(ctx context.Context, i int) error {
		var err error
		rooms[i], err = u.CreateRoom(ctx, "private_chat", false)
		return err
	}); err != nil {
		return err
	}
	if err := parallel(ctx, r*k, o.Workers, func(ctx context.Context, n int) error {
		return u.SendText(ctx, rooms[n%r], fmt.Sprintf("%s-fill-%d", o.Prefix, n))
	}); err != nil {
		return err
	}

	o.progress("initialsync: %d initial and %d incremental syncs", o.Repeat, o.Repeat)
	var initial, incr []time.Duration
	var initialBytes, incrBytes int
	var since string
	for range o.Repeat {
		t0 := time.Now()
		resp, size, err := u.Sync(ctx, "", "", 0)
		if err != nil {
			return err
		}
		initial = append(initial, time.Since(t0))
		initialBytes = size
		since = resp.NextBatch
		if got := len(resp.Rooms.Join); got != r {
			res.Notes = append(res.Notes, fmt.Sprintf("initial sync listed %d joined rooms, want %d", got, r))
		}
	}
	for i := range o.Repeat {
		if err := u.SendText(ctx, rooms[i%r], fmt.Sprintf("%s-incr-%d", o.Prefix, i)); err != nil {
			return err
		}
		t0 := time.Now()
		resp, size, err := u.Sync(ctx, since, "", 0)
		if err != nil {
			return err
		}
		incr = append(incr, time.Since(t0))
		incrBytes += size
		since = resp.NextBatch
	}
	res.Latency["initial_sync"] = Summarize(initial)
	res.Latency["incremental_sync"] = Summarize(incr)
	res.Figures["initial_sync_bytes"] = float64(initialBytes)
	res.Figures["incremental_sync_bytes_mean"] = round3(float64(incrBytes) / float64(max(1, o.Repeat)))
	return nil
}
