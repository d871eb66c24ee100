package server_test

import (
	"context"
	"net/http"
	"testing"

	"ward/internal/bench"
	"ward/internal/config"
	"ward/internal/dbtest"
	"ward/internal/server/servertest"
)

func getWithToken(t *testing.T, url, token string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// Runtime profiles are off by default; when on, the client API serves
// them to server admins only, and the metrics listener serves them.
func TestPprofEndpoint(t *testing.T) {
	b := dbtest.Backend{Name: "sqlite", DSN: dbtest.SQLite(t)}
	off := servertest.Start(t, b, func(c *config.Config) { c.MetricsListen = "127.0.0.1:0" })
	if code := getWithToken(t, off.URL+"/debug/pprof/", ""); code != http.StatusNotFound {
		t.Errorf("pprof off, client API: %d, want 404", code)
	}
	if code := getWithToken(t, off.Server.MetricsURL()+"/debug/pprof/", ""); code != http.StatusNotFound {
		t.Errorf("pprof off, metrics listener: %d, want 404", code)
	}
	off.Stop()

	on := servertest.Start(t, dbtest.Backend{Name: "sqlite", DSN: dbtest.SQLite(t)}, func(c *config.Config) {
		c.MetricsListen = "127.0.0.1:0"
		c.Pprof = true
	})
	ctx, hc := context.Background(), bench.HTTPClient()
	admin, err := bench.RegisterShared(ctx, hc, on.URL, "test-shared-secret", "profadmin", "admin password 1", true)
	if err != nil {
		t.Fatal(err)
	}
	user, err := bench.RegisterOpen(ctx, hc, on.URL, "profuser", "user password 1")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, url, token string
		want             int
	}{
		{"no token", on.URL + "/debug/pprof/", "", http.StatusUnauthorized},
		{"unknown token", on.URL + "/debug/pprof/", "nope", http.StatusUnauthorized},
		{"not an admin", on.URL + "/debug/pprof/heap", user.Token, http.StatusForbidden},
		{"admin", on.URL + "/debug/pprof/", admin.Token, http.StatusOK},
		{"admin heap", on.URL + "/debug/pprof/heap", admin.Token, http.StatusOK},
		{"metrics listener", on.Server.MetricsURL() + "/debug/pprof/goroutine", "", http.StatusOK},
		{"client API still served", on.URL + "/_matrix/client/versions", "", http.StatusOK},
	} {
		if code := getWithToken(t, tt.url, tt.token); code != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, code, tt.want)
		}
	}
}
