package clientapi_test

import (
	"bytes"
	"encoding/json"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"net/http"
	"testing"

	"maunium.net/go/mautrix/id"

	"ward/internal/server/servertest"
)

const mediaV1 = "/_matrix/client/v1/media"

// mediaAnswer is a raw answer of the content repository.
type mediaAnswer struct {
	Status int
	Header http.Header
	Body   []byte
}

// json decodes an error or JSON answer.
func (a mediaAnswer) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(a.Body, &m); err != nil {
		t.Fatalf("answer %d is not JSON: %q", a.Status, a.Body)
	}
	return m
}

// wantMediaError checks a Matrix error answer.
func (a mediaAnswer) wantError(t *testing.T, what string, status int, errcode string) {
	t.Helper()
	if a.Status != status {
		// The body may be the item itself: say how long, not what.
		t.Fatalf("%s: got %d (%s, %d bytes), want %d %s", what, a.Status, a.Header.Get("Content-Type"), len(a.Body), status, errcode)
	}
	m := a.json(t)
	if a.Status != status || m["errcode"] != errcode {
		t.Fatalf("%s: got %d %s, want %d %s", what, a.Status, a.Body, status, errcode)
	}
	if _, ok := m["error"].(string); !ok {
		t.Fatalf("%s: no error message: %s", what, a.Body)
	}
}

// fetch makes a raw request to the server.
func fetch(t *testing.T, ts *servertest.TS, token, method, path string, body io.Reader, contentType string) mediaAnswer {
	t.Helper()
	req, err := http.NewRequest(method, ts.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return mediaAnswer{Status: resp.StatusCode, Header: resp.Header, Body: raw}
}

// download fetches an item through the authenticated endpoint.
func download(t *testing.T, ts *servertest.TS, token string, uri id.ContentURI) mediaAnswer {
	t.Helper()
	return fetch(t, ts, token, "GET", mediaV1+"/download/"+uri.Homeserver+"/"+uri.FileID, nil, "")
}

// thumbnail fetches a thumbnail through the authenticated endpoint.
func thumbnail(t *testing.T, ts *servertest.TS, token string, uri id.ContentURI, query string) mediaAnswer {
	t.Helper()
	return fetch(t, ts, token, "GET", mediaV1+"/thumbnail/"+uri.Homeserver+"/"+uri.FileID+"?"+query, nil, "")
}

// upload posts a body through the plain upload endpoint.
func upload(t *testing.T, ts *servertest.TS, token string, body []byte, contentType, query string) mediaAnswer {
	t.Helper()
	return fetch(t, ts, token, "POST", "/_matrix/media/v3/upload"+query, bytes.NewReader(body), contentType)
}

// testImage draws a w×h picture with a gradient, so that scaling has
// something to do.
func testImage(w, h int) image.Image {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{R: uint8(x * 255 / w), G: uint8(y * 255 / h), B: 128, A: 255})
		}
	}
	return img
}

func pngBytes(t *testing.T, w, h int) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, testImage(w, h)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func jpegBytes(t *testing.T, w, h int) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, testImage(w, h), nil); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// imageSize decodes an answer's body as an image.
func imageSize(t *testing.T, body []byte) (format string, w, h int) {
	t.Helper()
	cfg, format, err := image.DecodeConfig(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("thumbnail is not an image: %v", err)
	}
	return format, cfg.Width, cfg.Height
}
