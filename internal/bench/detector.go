package bench

import (
	"sort"
	"sync"
	"time"
)

// Detector checks that every message sent arrives exactly once. Senders
// call Sent with a message's unique id when they start sending it;
// receivers call Seen for every copy they receive. Ids seen that were never
// sent (left over from an earlier run, say) are ignored.
type Detector struct {
	mu    sync.Mutex
	sent  map[string]time.Time
	seen  map[string]time.Time
	count map[string]int
	done  chan struct{}
	want  int
}

// NewDetector expects want messages; Done is closed once each has been
// seen at least once.
func NewDetector(want int) *Detector {
	d := &Detector{
		sent: map[string]time.Time{}, seen: map[string]time.Time{}, count: map[string]int{},
		done: make(chan struct{}), want: want,
	}
	if want == 0 {
		close(d.done)
	}
	return d
}

// Sent records that sending id started at t.
func (d *Detector) Sent(id string, t time.Time) {
	d.mu.Lock()
	d.sent[id] = t
	d.mu.Unlock()
}

// Seen records that a receiver got id at t.
func (d *Detector) Seen(id string, t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.sent[id]; !ok {
		return
	}
	d.count[id]++
	if d.count[id] == 1 {
		d.seen[id] = t
		if len(d.seen) == d.want {
			close(d.done)
		}
	}
}

// Done is closed when every expected message has been seen.
func (d *Detector) Done() <-chan struct{} { return d.done }

// Lost lists the ids sent but never seen, sorted.
func (d *Detector) Lost() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for id := range d.sent {
		if d.count[id] == 0 {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

// Duplicated lists the ids seen more than once, sorted.
func (d *Detector) Duplicated() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for id, n := range d.count {
		if n > 1 {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

// Latencies returns, for every message seen, the time from the start of
// its sending to its first arrival.
func (d *Detector) Latencies() []time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]time.Duration, 0, len(d.seen))
	for id, at := range d.seen {
		out = append(out, at.Sub(d.sent[id]))
	}
	return out
}
