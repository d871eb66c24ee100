package bench

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// pollTimeout is how long each long-poll /sync waits.
const pollTimeout = 30 * time.Second

// drainGrace is how long receivers keep syncing after the last message
// arrived, so that a late duplicate is still caught.
const drainGrace = 500 * time.Millisecond

// runDM: Pairs sender/receiver pairs, each in its own DM room; every
// receiver long-polls /sync while Workers senders send Messages messages
// per pair.
func runDM(ctx context.Context, o Options, res *Result) error {
	n, m := o.Pairs, o.Messages
	res.Params = map[string]any{"pairs": n, "messages": m, "workers": o.Workers, "registration": o.flow()}
	o.progress("dm: registering %d users", 2*n)
	senders, err := o.users(ctx, "s", n)
	if err != nil {
		return fmt.Errorf("registering: %w", err)
	}
	receivers, err := o.users(ctx, "r", n)
	if err != nil {
		return fmt.Errorf("registering: %w", err)
	}
	o.progress("dm: creating %d DM rooms", n)
	rooms := make([]string, n)
	if err := parallel(ctx, n, o.SetupWorkers, func(ctx context.Context, i int) error {
		r, err := senders[i].CreateRoom(ctx, "trusted_private_chat", true, receivers[i].UserID)
		if err != nil {
			return err
		}
		rooms[i] = r
		return receivers[i].Join(ctx, r)
	}); err != nil {
		return fmt.Errorf("creating the DM rooms: %w", err)
	}

	det := NewDetector(n * m)
	syncers := make([]*Syncer, n)
	for i := range n {
		syncers[i] = &Syncer{Client: receivers[i], Seen: func(roomID, id string, at time.Time) { det.Seen(id, at) }}
	}
	if err := parallel(ctx, n, o.SetupWorkers, func(ctx context.Context, i int) error { return syncers[i].Prime(ctx) }); err != nil {
		return err
	}
	syncCtx, stopSync := context.WithCancel(ctx)
	defer stopSync()
	var syncWG sync.WaitGroup
	for _, s := range syncers {
		syncWG.Go(func() { s.Run(syncCtx, pollTimeout) })
	}
	// Let the long-polls reach the server before the first send.
	time.Sleep(200 * time.Millisecond)

	o.progress("dm: sending %d messages with %d workers", n*m, o.Workers)
	var mu sync.Mutex
	sendLat := make([]time.Duration, 0, n*m)
	var sendErrs int
	start := time.Now()
	// Message j of every pair goes before message j+1 of any pair.
	err = parallel(ctx, n*m, o.Workers, func(ctx context.Context, k int) error {
		i, j := k%n, k/n
		id := fmt.Sprintf("%s-%d-%d", o.Prefix, i, j)
		t0 := time.Now()
		det.Sent(id, t0)
		err := senders[i].SendText(ctx, rooms[i], id)
		d := time.Since(t0)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			sendErrs++
			if ctx.Err() != nil {
				return err
			}
			return nil
		}
		sendLat = append(sendLat, d)
		return nil
	})
	sendDone := time.Since(start)
	delivered := sendDone
	if err == nil {
		select {
		case <-det.Done():
			delivered = time.Since(start)
			time.Sleep(drainGrace)
		case <-ctx.Done():
			res.Notes = append(res.Notes, "timed out waiting for delivery")
		}
	}
	stopSync()
	syncWG.Wait()

	res.Latency["send"] = Summarize(sendLat)
	res.Latency["delivery"] = Summarize(det.Latencies())
	res.Lost, res.Duplicate = det.Lost(), det.Duplicated()
	res.Figures["messages_sent"] = float64(len(sendLat))
	res.Figures["send_errors"] = float64(sendErrs)
	res.Figures["messages_lost"] = float64(len(res.Lost))
	res.Figures["messages_duplicated"] = float64(len(res.Duplicate))
	res.Figures["send_messages_per_second"] = round3(float64(len(sendLat)) / sendDone.Seconds())
	res.Figures["delivered_messages_per_second"] = round3(float64(n*m-len(res.Lost)) / delivered.Seconds())
	errs := 0
	for _, s := range syncers {
		errs += s.Errors
	}
	res.Figures["sync_errors"] = float64(errs)
	return err
}

func (o Options) flow() string {
	if o.SharedSecret != "" {
		return "shared-secret"
	}
	return "open"
}
