package server_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"ward/internal/config"
	"ward/internal/dbtest"
	"ward/internal/server"
	"ward/internal/server/servertest"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// The metrics listener serves request counts by route template, waiting
// syncs and both database pools, apart from the client API.
func TestMetricsEndpoint(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, func(c *config.Config) { c.MetricsListen = "127.0.0.1:0" })
		if code, _ := get(t, ts.URL+"/health"); code != http.StatusOK {
			t.Fatalf("/health: %d", code)
		}
		murl := ts.Server.MetricsURL()
		if murl == "" {
			t.Fatal("metrics_listen set but no metrics URL")
		}
		// The request is counted just after its answer is written, so a
		// scrape right after the answer may come first: scrape until it
		// shows (the wait bounds a hang, it asserts no speed).
		var out string
		for deadline := time.Now().Add(10 * time.Second); ; {
			code, body := get(t, murl+"/metrics")
			if code != http.StatusOK {
				t.Fatalf("/metrics: %d", code)
			}
			out = body
			if strings.Contains(out, `ward_http_requests_total{method="GET"`) || time.Now().After(deadline) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		for _, want := range []string{
			`ward_http_requests_total{method="GET",route=`,
			`ward_http_request_duration_seconds_bucket{method="GET",route=`,
			`ward_http_request_duration_seconds_count{method="GET",route=`,
			`ward_sync_waiting 0`,
			`ward_db_open_connections{pool="writer"}`,
			`ward_db_open_connections{pool="reader"}`,
			`ward_db_in_use_connections{pool="reader"}`,
			`ward_db_wait_count_total{pool="writer"}`,
		} {
			if !strings.Contains(out, want) {
				t.Errorf("metrics lack %s\n%s", want, out)
			}
		}
		t.Run("route template label", func(t *testing.T) {
			want := `ward_http_requests_total{method="GET",route="/health",status="200"} 1`
			if !strings.Contains(out, want) {
				t.Errorf("metrics lack %s\n%s", want, out)
			}
		})
		// The client API does not expose them.
		if code, _ := get(t, ts.URL+"/metrics"); code == http.StatusOK {
			t.Error("client API serves /metrics")
		}
	})
}

func TestNoMetricsListenerByDefault(t *testing.T) {
	ts := servertest.Start(t, dbtest.Backend{Name: "sqlite", DSN: dbtest.SQLite(t)}, nil)
	if u := ts.Server.MetricsURL(); u != "" {
		t.Fatalf("metrics served at %s without metrics_listen", u)
	}
}

// Shutdown stops taking new connections but lets a request that is already
// running finish and answer; Stopping is closed as soon as it begins.
func TestGracefulShutdownFinishesInFlightRequest(t *testing.T) {
	cfg := servertest.Config(t, dbtest.Backend{Name: "sqlite", DSN: dbtest.SQLite(t)})
	s, err := server.New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	entered := make(chan struct{})
	release := make(chan struct{})
	api := s.Handler(nil)
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(entered)
			<-release
			_, _ = io.WriteString(w, "finished")
			return
		}
		api.ServeHTTP(w, r)
	})
	if err := s.Start(slow); err != nil {
		t.Fatal(err)
	}
	url := s.URL()

	type result struct {
		code int
		body string
		err  error
	}
	got := make(chan result, 1)
	go func() {
		resp, err := http.Get(url + "/slow")
		if err != nil {
			got <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		got <- result{code: resp.StatusCode, body: string(b), err: err}
	}()
	<-entered

	select {
	case <-s.Stopping():
		t.Fatal("Stopping closed before Shutdown")
	default:
	}
	shutdown := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		shutdown <- s.Shutdown(ctx)
	}()
	<-s.Stopping() // closed at the start of Shutdown

	// Shutdown must still be waiting for the in-flight request.
	select {
	case err := <-shutdown:
		t.Fatalf("Shutdown returned (%v) before the in-flight request finished", err)
	default:
	}
	close(release)
	r := <-got
	if r.err != nil || r.code != http.StatusOK || r.body != "finished" {
		t.Fatalf("in-flight request: code %d body %q err %v", r.code, r.body, r.err)
	}
	if err := <-shutdown; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	// No longer accepting.
	c := &http.Client{Timeout: 10 * time.Second}
	if resp, err := c.Get(url + "/health"); err == nil {
		resp.Body.Close()
		t.Fatal("server still answers after Shutdown")
	}
}

// When the shutdown timeout passes, the remaining requests are cut off and
// Shutdown says so rather than hanging.
func TestShutdownTimeoutCutsOff(t *testing.T) {
	cfg := servertest.Config(t, dbtest.Backend{Name: "sqlite", DSN: dbtest.SQLite(t)})
	s, err := server.New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	entered := make(chan struct{})
	release := make(chan struct{})
	defer close(release)
	if err := s.Start(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
	})); err != nil {
		t.Fatal(err)
	}
	go func() {
		resp, err := http.Get(s.URL() + "/stuck")
		if err == nil {
			resp.Body.Close()
		}
	}()
	<-entered
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the deadline has already passed
	if err := s.Shutdown(ctx); err == nil {
		t.Fatal("Shutdown with a stuck request and no time left reported no error")
	}
}
