package bench

import (
	"slices"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	ms := func(vs ...int) []time.Duration {
		out := make([]time.Duration, len(vs))
		for i, v := range vs {
			out[i] = time.Duration(v) * time.Millisecond
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	tests := []struct {
		name   string
		values []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one value", ms(7), 99, 7 * time.Millisecond},
		{"median of odd count", ms(1, 2, 3, 4, 5), 50, 3 * time.Millisecond},
		{"median of even count is the lower middle", ms(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{"p100 is the max", ms(1, 2, 3, 4), 100, 4 * time.Millisecond},
		{"tiny p is the min", ms(1, 2, 3, 4), 0.1, 1 * time.Millisecond},
		{"p95 of 1..100", ms(hundred...), 95, 95 * time.Millisecond},
		{"p99 of 1..100", ms(hundred...), 99, 99 * time.Millisecond},
		{"p99 of 10 values is the max", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 99, 10 * time.Millisecond},
		{"p90 of 10 values", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 90, 9 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Percentile(tt.values, tt.p); got != tt.want {
				t.Errorf("Percentile(%v, %g) = %v, want %v", tt.values, tt.p, got, tt.want)
			}
		})
	}
}

func TestSummarizeDoesNotReorderItsInput(t *testing.T) {
	in := []time.Duration{3 * time.Millisecond, time.Millisecond, 2 * time.Millisecond, 1500 * time.Microsecond}
	orig := slices.Clone(in)
	s := Summarize(in)
	if !slices.Equal(in, orig) {
		t.Errorf("input reordered: %v", in)
	}
	want := Summary{Count: 4, Mean: 1.875, P50: 1.5, P95: 3, P99: 3, Max: 3}
	if s != want {
		t.Errorf("Summarize = %+v, want %+v", s, want)
	}
	if (Summarize(nil) != Summary{}) {
		t.Error("Summarize(nil) is not zero")
	}
}

func TestDetectorFindsLostAndDuplicated(t *testing.T) {
	d := NewDetector(3)
	t0 := time.Now()
	for _, id := range []string{"a", "b", "c"} {
		d.Sent(id, t0)
	}
	d.Seen("a", t0.Add(10*time.Millisecond))
	d.Seen("b", t0.Add(20*time.Millisecond))
	d.Seen("b", t0.Add(30*time.Millisecond)) // duplicate
	d.Seen("zzz", t0)                        // never sent: ignored
	select {
	case <-d.Done():
		t.Fatal("Done closed while c is missing")
	default:
	}
	if got := d.Lost(); !slices.Equal(got, []string{"c"}) {
		t.Errorf("Lost = %v, want [c]", got)
	}
	if got := d.Duplicated(); !slices.Equal(got, []string{"b"}) {
		t.Errorf("Duplicated = %v, want [b]", got)
	}
	lat := d.Latencies()
	slices.Sort(lat)
	// The first arrival counts, not the duplicate.
	if !slices.Equal(lat, []time.Duration{10 * time.Millisecond, 20 * time.Millisecond}) {
		t.Errorf("Latencies = %v", lat)
	}
	d.Seen("c", t0.Add(time.Second))
	select {
	case <-d.Done():
	default:
		t.Fatal("Done not closed once every id was seen")
	}
	if got := d.Lost(); len(got) != 0 {
		t.Errorf("Lost after c arrived = %v", got)
	}
}

func TestMessageID(t *testing.T) {
	var e Event
	e.Type = "m.room.message"
	e.Content.Body = BodyPrefix + "run-1-2"
	if got := e.MessageID(); got != "run-1-2" {
		t.Errorf("MessageID = %q", got)
	}
	e.Content.Body = "hello"
	if got := e.MessageID(); got != "" {
		t.Errorf("MessageID of a foreign message = %q", got)
	}
	e.Type, e.Content.Body = "m.room.topic", BodyPrefix+"x"
	if got := e.MessageID(); got != "" {
		t.Errorf("MessageID of a state event = %q", got)
	}
}
