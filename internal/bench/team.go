package bench

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// runTeam: one room of Members members, all long-polling; one member sends
// a message Repeat times, one at a time, and each fan-out is timed to the
// last member that receives it.
func runTeam(ctx context.Context, o Options, res *Result) error {
	members := max(2, o.Members)
	res.Params = map[string]any{"members": members, "repeat": o.Repeat, "registration": o.flow()}
	o.progress("team: registering %d users", members)
	users, err := o.users(ctx, "m", members)
	if err != nil {
		return err
	}
	room, err := users[0].CreateRoom(ctx, "public_chat", false)
	if err != nil {
		return err
	}
	o.progress("team: %d members join", members-1)
	if err := parallel(ctx, members-1, o.SetupWorkers, func(ctx context.Context, i int) error {
		return users[i+1].Join(ctx, room)
	}); err != nil {
		return err
	}

	// arrivals[id] receives one time per receiving member.
	var mu sync.Mutex
	arrivals := map[string]chan time.Time{}
	var dups int
	receivers := users[1:]
	syncers := make([]*Syncer, len(receivers))
	for i, u := range receivers {
		seen := map[string]bool{}
		syncers[i] = &Syncer{Client: u, Seen: func(roomID, id string, at time.Time) {
			mu.Lock()
			defer mu.Unlock()
			ch, ok := arrivals[id]
			if !ok {
				return
			}
			if seen[id] {
				dups++
				return
			}
			seen[id] = true
			ch <- at
		}}
	}
	if err := parallel(ctx, len(syncers), o.SetupWorkers, func(ctx context.Context, i int) error { return syncers[i].Prime(ctx) }); err != nil {
		return err
	}
	syncCtx, stopSync := context.WithCancel(ctx)
	defer stopSync()
	var wg sync.WaitGroup
	for _, s := range syncers {
		wg.Go(func() { s.Run(syncCtx, pollTimeout) })
	}
	time.Sleep(200 * time.Millisecond)

	o.progress("team: %d fan-outs to %d members", o.Repeat, len(receivers))
	var last, each, send []time.Duration
	var lost int
	for k := range o.Repeat {
		id := fmt.Sprintf("%s-team-%d", o.Prefix, k)
		ch := make(chan time.Time, len(receivers))
		mu.Lock()
		arrivals[id] = ch
		mu.Unlock()
		t0 := time.Now()
		if err := users[0].SendText(ctx, room, id); err != nil {
			return err
		}
		send = append(send, time.Since(t0))
		var latest time.Duration
		got := 0
		deadline := time.NewTimer(30 * time.Second)
	wait:
		for got < len(receivers) {
			select {
			case at := <-ch:
				d := at.Sub(t0)
				each = append(each, d)
				latest = max(latest, d)
				got++
			case <-deadline.C:
				break wait
			case <-ctx.Done():
				deadline.Stop()
				return ctx.Err()
			}
		}
		deadline.Stop()
		lost += len(receivers) - got
		if got == len(receivers) {
			last = append(last, latest)
		}
		// Let every long-poll settle back into waiting before the next one.
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(drainGrace)
	stopSync()
	wg.Wait()
	res.Latency["send"] = Summarize(send)
	res.Latency["delivery_last_member"] = Summarize(last)
	res.Latency["delivery_each_member"] = Summarize(each)
	mu.Lock()
	res.Figures["deliveries_lost"] = float64(lost)
	res.Figures["deliveries_duplicated"] = float64(dups)
	mu.Unlock()
	errs := 0
	for _, s := range syncers {
		errs += s.Errors
	}
	res.Figures["sync_errors"] = float64(errs)
	return nil
}
