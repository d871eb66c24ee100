package clientapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"maunium.net/go/mautrix"

	"ward/internal/config"
)

// TestPanicIsAMatrixError: a panic in a handler answers 500 M_UNKNOWN with
// the request id and leaves the server running (DESIGN: Errors).
func TestPanicIsAMatrixError(t *testing.T) {
	var logs bytes.Buffer
	a := &API{Config: config.Defaults(), Log: slog.New(slog.NewTextHandler(&logs, nil))}
	h := a.outer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { panic("boom") }))
	srv := httptest.NewServer(h)
	defer srv.Close()
	for i := 0; i < 2; i++ {
		resp, err := http.Get(srv.URL + "/x")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		var e struct {
			ErrCode string `json:"errcode"`
		}
		if resp.StatusCode != 500 || json.Unmarshal(body, &e) != nil || e.ErrCode != "M_UNKNOWN" ||
			!strings.Contains(string(body), resp.Header.Get("X-Request-Id")) {
			t.Fatalf("panic answered %d %q", resp.StatusCode, body)
		}
	}
	if !strings.Contains(logs.String(), "handler panicked") {
		t.Fatal("the panic was not logged")
	}
}

// TestErrorLogLevels: only the server's own faults log at ERROR. A Matrix
// error — the client's mistake or a normal condition, 5xx ones included
// (504 M_NOT_YET_UPLOADED before an asynchronous upload completes, spec:
// client-server-api "Content repository", GET /download; 501 for a
// switched-off feature) — logs below WARN; an error that is not a Matrix
// error (a database failure) logs at ERROR and answers 500 M_UNKNOWN
// (DESIGN: Errors).
func TestErrorLogLevels(t *testing.T) {
	for _, tt := range []struct {
		name      string
		err       error
		status    int
		wantError bool
	}{
		{"not yet uploaded", mautrix.RespError{ErrCode: "M_NOT_YET_UPLOADED", Err: "The content has not been uploaded yet", StatusCode: 504}, 504, false},
		{"feature off", mautrix.MUnrecognized.WithStatus(501).WithMessage("off"), 501, false},
		{"forbidden", mautrix.MForbidden.WithMessage("no"), 403, false},
		{"wrapped not found", fmt.Errorf("look up: %w", mautrix.MNotFound.WithMessage("none")), 404, false},
		{"database failure", fmt.Errorf("read profile: %w", errors.New("connection refused")), 500, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			a := &API{Config: config.Defaults(), Log: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
			rec := httptest.NewRecorder()
			a.writeError(rec, httptest.NewRequest("GET", "/x", nil), tt.err)
			if rec.Code != tt.status {
				t.Errorf("status %d, want %d", rec.Code, tt.status)
			}
			if got := strings.Contains(logs.String(), "level=ERROR"); got != tt.wantError {
				t.Errorf("logged at ERROR: %v, want %v:\n%s", got, tt.wantError, logs.String())
			}
			if strings.Contains(logs.String(), "level=WARN") {
				t.Errorf("logged at WARN:\n%s", logs.String())
			}
		})
	}
}
