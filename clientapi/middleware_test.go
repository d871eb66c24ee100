package clientapi

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

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
