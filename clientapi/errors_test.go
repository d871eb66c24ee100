package clientapi_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"ward/internal/config"
	"ward/internal/dbtest"
	"ward/internal/server/servertest"
)

// matrixError reads a response and checks it is a Matrix error body
// (spec: client-server-api "Standard error response").
func matrixError(t *testing.T, resp *http.Response, wantStatus int, wantCode string) {
	t.Helper()
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var e struct {
		ErrCode string `json:"errcode"`
		Error   string `json:"error"`
	}
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("%s: body is not JSON: %q", resp.Request.URL.Path, body)
	}
	if resp.StatusCode != wantStatus || e.ErrCode != wantCode || e.Error == "" {
		t.Fatalf("%s %s: %d %s %q, want %d %s", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, e.ErrCode, e.Error, wantStatus, wantCode)
	}
}

// TestProtocolErrors: the errors every endpoint shares (spec: client-server-api
// "API Standards": unknown endpoints, methods, tokens, JSON and body size),
// and CORS for browser clients on another origin ("Web Browser Clients").
func TestProtocolErrors(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, func(c *config.Config) { c.MaxRequestBytes = 4096 })
		cli := registerUser(t, ts, "alice")
		do := func(method, path, token string, body []byte) *http.Response {
			req, _ := http.NewRequest(method, ts.URL+path, bytes.NewReader(body))
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			return resp
		}
		matrixError(t, do("GET", "/_matrix/client/v3/no/such/endpoint", "", nil), 404, "M_UNRECOGNIZED")
		matrixError(t, do("DELETE", "/_matrix/client/versions", "", nil), 405, "M_UNRECOGNIZED")
		matrixError(t, do("GET", "/_matrix/client/v3/account/whoami", "", nil), 401, "M_MISSING_TOKEN")
		matrixError(t, do("GET", "/_matrix/client/v3/account/whoami", "not-a-token", nil), 401, "M_UNKNOWN_TOKEN")
		matrixError(t, do("POST", "/_matrix/client/v3/createRoom", cli.AccessToken, []byte("not json")), 400, "M_NOT_JSON")
		matrixError(t, do("POST", "/_matrix/client/v3/createRoom", cli.AccessToken, []byte(`{"invite":"not a list"}`)), 400, "M_BAD_JSON")
		big := []byte(`{"name":"` + strings.Repeat("x", 8000) + `"}`)
		matrixError(t, do("POST", "/_matrix/client/v3/createRoom", cli.AccessToken, big), 413, "M_TOO_LARGE")
		// r0 aliases answer like v3.
		resp := do("GET", "/_matrix/client/r0/account/whoami", cli.AccessToken, nil)
		if resp.StatusCode != 200 {
			t.Fatalf("r0 whoami: %d", resp.StatusCode)
		}
		resp.Body.Close()

		// CORS preflight and headers on a normal answer.
		req, _ := http.NewRequest(http.MethodOptions, ts.URL+"/_matrix/client/v3/sync", nil)
		req.Header.Set("Origin", "https://chat.clinic.example")
		req.Header.Set("Access-Control-Request-Method", "GET")
		pre, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		pre.Body.Close()
		if pre.StatusCode != 200 || pre.Header.Get("Access-Control-Allow-Origin") != "*" ||
			!strings.Contains(pre.Header.Get("Access-Control-Allow-Headers"), "Authorization") {
			t.Fatalf("CORS preflight: %d %v", pre.StatusCode, pre.Header)
		}
		v := do("GET", "/_matrix/client/versions", "", nil)
		v.Body.Close()
		if v.Header.Get("Access-Control-Allow-Origin") != "*" {
			t.Fatal("no CORS header on /versions")
		}
	})
}
