package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

// Options configure one run of a scenario.
type Options struct {
	URL      string
	Scenario string // dm, team, initialsync or keys
	Pairs    int    // dm: user pairs
	Messages int    // dm: messages per pair; initialsync: messages per room
	Workers  int    // concurrent senders
	// SetupWorkers bounds the concurrency of registration, room creation
	// and joins; 0 means Workers.
	SetupWorkers int
	Members      int // team and keys: room members
	Rooms        int // initialsync: rooms
	Repeat       int // team: fan-outs; initialsync: syncs of each kind; keys: calls of each kind
	// SharedSecret selects shared-secret registration; empty means open
	// registration with m.login.dummy.
	SharedSecret string
	PID          int           // server process to sample; 0 for none
	Timeout      time.Duration // bound on the whole run
	// Prefix starts every user name; empty picks a random one so that runs
	// against the same server never collide.
	Prefix string
	HTTP   *http.Client
	// Progress, when not nil, receives a line per phase.
	Progress io.Writer
}

// Scenarios lists the scenarios Run knows.
var Scenarios = []string{"dm", "team", "initialsync", "keys"}

// Result is the outcome of a run; it is also the JSON file's shape.
type Result struct {
	Scenario  string             `json:"scenario"`
	URL       string             `json:"url"`
	Started   time.Time          `json:"started"`
	Seconds   float64            `json:"duration_s"`
	Params    map[string]any     `json:"params"`
	Latency   map[string]Summary `json:"latency_ms"`
	Figures   map[string]float64 `json:"figures"`
	Server    *ProcStats         `json:"server,omitempty"`
	Lost      []string           `json:"lost_ids,omitempty"`
	Duplicate []string           `json:"duplicated_ids,omitempty"`
	Notes     []string           `json:"notes,omitempty"`
}

func (o *Options) defaults() {
	if o.Pairs <= 0 {
		o.Pairs = 20
	}
	if o.Messages <= 0 {
		o.Messages = 50
	}
	if o.Workers <= 0 {
		o.Workers = 20
	}
	if o.SetupWorkers <= 0 {
		o.SetupWorkers = o.Workers
	}
	if o.Members <= 0 {
		o.Members = 50
	}
	if o.Rooms <= 0 {
		o.Rooms = 50
	}
	if o.Repeat <= 0 {
		o.Repeat = 20
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Minute
	}
	if o.Prefix == "" {
		var b [4]byte
		_, _ = rand.Read(b[:])
		o.Prefix = "bench" + hex.EncodeToString(b[:])
	}
	if o.HTTP == nil {
		o.HTTP = HTTPClient()
	}
	o.URL = strings.TrimRight(o.URL, "/")
}

// Run runs one scenario against the server at o.URL.
func Run(ctx context.Context, o Options) (*Result, error) {
	o.defaults()
	if o.URL == "" {
		return nil, errors.New("no server URL")
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	res := &Result{Scenario: o.Scenario, URL: o.URL, Started: time.Now().UTC(),
		Latency: map[string]Summary{}, Figures: map[string]float64{}, Params: map[string]any{}}
	var sampler *Sampler
	if o.PID > 0 {
		var err error
		if sampler, err = StartSampler(o.PID, 100*time.Millisecond); err != nil {
			return nil, fmt.Errorf("sample process %d: %w", o.PID, err)
		}
	}
	var err error
	switch o.Scenario {
	case "dm":
		err = runDM(ctx, o, res)
	case "team":
		err = runTeam(ctx, o, res)
	case "initialsync":
		err = runInitialSync(ctx, o, res)
	case "keys":
		err = runKeys(ctx, o, res)
	default:
		err = fmt.Errorf("unknown scenario %q (want one of %s)", o.Scenario, strings.Join(Scenarios, ", "))
	}
	if sampler != nil {
		st := sampler.Stop()
		res.Server = &st
	}
	res.Seconds = round3(time.Since(res.Started).Seconds())
	return res, err
}

func (o Options) progress(format string, args ...any) {
	if o.Progress != nil {
		fmt.Fprintf(o.Progress, format+"\n", args...)
	}
}

// parallel runs fn(i) for i in [0, n) on up to workers goroutines and
// returns the first error.
func parallel(ctx context.Context, n, workers int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range min(n, max(1, workers)) {
		wg.Go(func() {
			for i := range jobs {
				if err := fn(ctx, i); err != nil {
					cancel(err)
				}
			}
		})
	}
feed:
	for i := range n {
		select {
		case jobs <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return ctx.Err()
}

// Register creates one user by the configured flow.
func (o Options) Register(ctx context.Context, name string) (*Client, error) {
	password := "bench password " + name
	if o.SharedSecret != "" {
		return RegisterShared(ctx, o.HTTP, o.URL, o.SharedSecret, name, password, false)
	}
	return RegisterOpen(ctx, o.HTTP, o.URL, name, password)
}

// users registers n users named prefix-role-i.
func (o Options) users(ctx context.Context, role string, n int) ([]*Client, error) {
	out := make([]*Client, n)
	err := parallel(ctx, n, o.SetupWorkers, func(ctx context.Context, i int) error {
		c, err := o.Register(ctx, fmt.Sprintf("%s-%s-%d", o.Prefix, role, i))
		out[i] = c
		return err
	})
	return out, err
}

// WriteTable prints a result as a plain-text table.
func WriteTable(w io.Writer, r *Result) error {
	fmt.Fprintf(w, "scenario %s against %s, %.1f s\n", r.Scenario, r.URL, r.Seconds)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if len(r.Latency) > 0 {
		fmt.Fprintln(tw, "latency (ms)\tcount\tmean\tp50\tp95\tp99\tmax\t")
		for _, k := range slices.Sorted(maps.Keys(r.Latency)) {
			s := r.Latency[k]
			fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t\n", k, s.Count, s.Mean, s.P50, s.P95, s.P99, s.Max)
		}
	}
	if len(r.Figures) > 0 {
		fmt.Fprintln(tw, "figure\tvalue\t")
		for _, k := range slices.Sorted(maps.Keys(r.Figures)) {
			fmt.Fprintf(tw, "%s\t%g\t\n", k, r.Figures[k])
		}
	}
	if s := r.Server; s != nil {
		fmt.Fprintln(tw, "server process\tvalue\t")
		fmt.Fprintf(tw, "peak RSS (MiB)\t%.1f\t\n", s.PeakRSSMiB)
		fmt.Fprintf(tw, "CPU seconds\t%.2f\t\n", s.CPUSeconds)
		fmt.Fprintf(tw, "CPU %% (100 = one core)\t%.0f\t\n", s.CPUPercent)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, n := range r.Notes {
		fmt.Fprintln(w, "note:", n)
	}
	return nil
}
