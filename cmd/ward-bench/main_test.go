package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"ward/internal/bench"
	"ward/internal/dbtest"
	"ward/internal/server/servertest"
)

// These tests run the load generator at a tiny size against a real Ward.
// They check correctness (registration, loss and duplicate detection, the
// output), never speed.

func startWard(t *testing.T) *servertest.TS {
	t.Helper()
	return servertest.Start(t, dbtest.Backend{Name: "sqlite", DSN: dbtest.SQLite(t)}, nil)
}

func TestRegistrationFlows(t *testing.T) {
	ts := startWard(t)
	ctx := context.Background()
	hc := bench.HTTPClient()
	whoami := func(c *bench.Client) string {
		var out struct {
			UserID string `json:"user_id"`
		}
		if _, err := c.Do(ctx, http.MethodGet, "/_matrix/client/v3/account/whoami", nil, nil, &out); err != nil {
			t.Fatalf("whoami: %v", err)
		}
		return out.UserID
	}
	open, err := bench.RegisterOpen(ctx, hc, ts.URL, "openuser", "open password 1")
	if err != nil {
		t.Fatalf("open registration: %v", err)
	}
	if got := whoami(open); got != "@openuser:ward.test" || got != open.UserID {
		t.Errorf("open registration: whoami = %s, client says %s", got, open.UserID)
	}
	shared, err := bench.RegisterShared(ctx, hc, ts.URL, "test-shared-secret", "shareduser", "shared password 1", false)
	if err != nil {
		t.Fatalf("shared-secret registration: %v", err)
	}
	if got := whoami(shared); got != "@shareduser:ward.test" {
		t.Errorf("shared-secret registration: whoami = %s", got)
	}
	if _, err := bench.RegisterShared(ctx, hc, ts.URL, "wrong secret", "nobody", "pw pw pw pw", false); err == nil {
		t.Error("shared-secret registration with the wrong secret succeeded")
	}
}

func TestDMRunLosesAndDuplicatesNothing(t *testing.T) {
	for _, flow := range []string{"open", "shared-secret"} {
		t.Run(flow, func(t *testing.T) {
			ts := startWard(t)
			out := filepath.Join(t.TempDir(), "dm.json")
			args := []string{"--url", ts.URL, "--scenario", "dm", "--pairs", "2", "--messages", "5", "--workers", "3",
				"--json", out, "--pid", itoa(os.Getpid()), "--timeout", "60s", "--quiet"}
			if flow == "shared-secret" {
				args = append(args, "--shared-secret", "test-shared-secret")
			}
			var stdout bytes.Buffer
			if err := run(context.Background(), args, &stdout); err != nil {
				t.Fatalf("run: %v\n%s", err, stdout.String())
			}
			var res bench.Result
			body, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(body, &res); err != nil {
				t.Fatalf("JSON output: %v\n%s", err, body)
			}
			if res.Figures["messages_sent"] != 10 || res.Figures["messages_lost"] != 0 || res.Figures["messages_duplicated"] != 0 {
				t.Errorf("figures = %v", res.Figures)
			}
			if res.Latency["delivery"].Count != 10 || res.Latency["send"].Count != 10 {
				t.Errorf("latency counts: %+v", res.Latency)
			}
			if res.Server == nil || res.Server.PeakRSSMiB <= 0 {
				t.Errorf("process sampling: %+v", res.Server)
			}
			for _, want := range []string{"delivery", "send", "messages_lost", "peak RSS"} {
				if !strings.Contains(stdout.String(), want) {
					t.Errorf("table lacks %q:\n%s", want, stdout.String())
				}
			}
		})
	}
}

// A receiver whose timeline comes back limited pages /messages back to
// its since token: 30 messages in one room between two syncs all arrive.
func TestSyncerPagesBackOverALimitedTimeline(t *testing.T) {
	ts := startWard(t)
	ctx := context.Background()
	hc := bench.HTTPClient()
	a, err := bench.RegisterOpen(ctx, hc, ts.URL, "pagera", "pager password a")
	if err != nil {
		t.Fatal(err)
	}
	b, err := bench.RegisterOpen(ctx, hc, ts.URL, "pagerb", "pager password b")
	if err != nil {
		t.Fatal(err)
	}
	room, err := a.CreateRoom(ctx, "private_chat", false, b.UserID)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Join(ctx, room); err != nil {
		t.Fatal(err)
	}
	det := bench.NewDetector(30)
	s := &bench.Syncer{Client: b, Seen: func(_, id string, at time.Time) { det.Seen(id, at) }}
	if err := s.Prime(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		id := "page-" + itoa(i)
		det.Sent(id, time.Now())
		if err := a.SendText(ctx, room, id); err != nil {
			t.Fatal(err)
		}
	}
	runCtx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	go func() {
		select {
		case <-det.Done():
			time.Sleep(200 * time.Millisecond)
			cancel()
		case <-runCtx.Done():
		}
	}()
	s.Run(runCtx, 2*time.Second)
	if lost, dup := det.Lost(), det.Duplicated(); len(lost) > 0 || len(dup) > 0 {
		t.Errorf("lost %v, duplicated %v", lost, dup)
	}
}

func TestOtherScenariosAtATinySize(t *testing.T) {
	ts := startWard(t)
	for _, args := range [][]string{
		{"--scenario", "team", "--members", "3", "--repeat", "2"},
		{"--scenario", "initialsync", "--rooms", "3", "--messages", "2", "--repeat", "2"},
		{"--scenario", "keys", "--members", "3", "--repeat", "2"},
	} {
		t.Run(args[1], func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "r.json")
			var stdout bytes.Buffer
			full := append([]string{"--url", ts.URL, "--workers", "3", "--timeout", "60s", "--quiet", "--json", out}, args...)
			if err := run(context.Background(), full, &stdout); err != nil {
				t.Fatalf("run: %v\n%s", err, stdout.String())
			}
			var res bench.Result
			body, _ := os.ReadFile(out)
			if err := json.Unmarshal(body, &res); err != nil {
				t.Fatalf("JSON output: %v", err)
			}
			switch args[1] {
			case "team":
				if res.Latency["delivery_last_member"].Count != 2 || res.Figures["deliveries_lost"] != 0 || res.Figures["deliveries_duplicated"] != 0 {
					t.Errorf("team: %+v %+v", res.Latency, res.Figures)
				}
			case "initialsync":
				if res.Latency["initial_sync"].Count != 2 || res.Figures["initial_sync_bytes"] <= 0 || len(res.Notes) > 0 {
					t.Errorf("initialsync: %+v %+v %v", res.Latency, res.Figures, res.Notes)
				}
			case "keys":
				if res.Figures["keys_supported"] != 1 || res.Latency["keys_query"].Count != 2 || res.Figures["keys_claimed"] != res.Figures["keys_claim_wanted"] {
					t.Errorf("keys: %+v %+v %v", res.Latency, res.Figures, res.Notes)
				}
			}
		})
	}
}

func TestBadArguments(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"--scenario", "nope", "--url", "http://127.0.0.1:1", "--quiet"}, &out); err == nil {
		t.Error("unknown scenario accepted")
	}
	if err := run(context.Background(), []string{"stray"}, &out); err == nil {
		t.Error("stray argument accepted")
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
