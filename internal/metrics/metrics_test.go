package metrics_test

import (
	"database/sql"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"ward/internal/metrics"
)

func scrape(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", resp.StatusCode, body)
	}
	return string(body)
}

func TestExposition(t *testing.T) {
	m := metrics.New(metrics.Sources{
		SyncWaiting: func() int { return 3 },
		DBStats: func() (sql.DBStats, sql.DBStats) {
			return sql.DBStats{MaxOpenConnections: 1, InUse: 1}, sql.DBStats{MaxOpenConnections: 8, Idle: 2}
		},
	})
	m.Observe("/_matrix/client/v3/rooms/{roomId}/send/{eventType}/{txnId}", "PUT", 200, 0.02)
	m.Observe("/health", "GET", 200, 0.001)
	out := scrape(t, m.Handler())
	for _, want := range []string{
		`ward_http_requests_total{method="PUT",route="/_matrix/client/v3/rooms/{roomId}/send/{eventType}/{txnId}",status="200"} 1`,
		`ward_http_request_duration_seconds_bucket{method="GET",route="/health",status="200",le="0.005"} 1`,
		`ward_sync_waiting 3`,
		`ward_db_max_open_connections{pool="writer"} 1`,
		`ward_db_in_use_connections{pool="writer"} 1`,
		`ward_db_idle_connections{pool="reader"} 2`,
		`ward_db_wait_count_total{pool="reader"} 0`,
		`go_goroutines`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// Two servers in one process each count their own requests.
func TestRegistriesAreSeparate(t *testing.T) {
	a, b := metrics.New(metrics.Sources{}), metrics.New(metrics.Sources{})
	a.Observe("/health", "GET", 200, 0.001)
	if out := scrape(t, b.Handler()); strings.Contains(out, "ward_http_requests_total{") {
		t.Fatalf("second registry saw the first one's request:\n%s", out)
	}
}
