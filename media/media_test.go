package media

import (
	"bytes"
	"image"
	"image/color"
	"image/gif"
	"image/png"
	"mime"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// Spec: client-server-api "Content repository": thumbnail sizes.
func TestPickSize(t *testing.T) {
	tests := []struct {
		w, h, method string
		want         thumbnailSize
		wantMethod   string
	}{
		{"32", "32", "crop", thumbnailSize{32, 32}, "crop"},
		{"1", "1", "scale", thumbnailSize{32, 32}, "scale"},
		{"40", "20", "crop", thumbnailSize{96, 96}, "crop"},
		{"96", "97", "scale", thumbnailSize{320, 240}, "scale"},
		{"320", "240", "crop", thumbnailSize{320, 240}, "crop"},
		{"321", "100", "scale", thumbnailSize{640, 480}, "scale"},
		{"800", "600", "crop", thumbnailSize{800, 600}, "crop"},
		// Above every size: the largest, scaled.
		{"801", "600", "crop", thumbnailSize{800, 600}, "scale"},
		{"10000", "10000", "scale", thumbnailSize{800, 600}, "scale"},
	}
	for _, tt := range tests {
		req, err := ParseThumbnailRequest(tt.w, tt.h, tt.method)
		if err != nil {
			t.Fatal(err)
		}
		got, method := pickSize(req)
		if got != tt.want || method != tt.wantMethod {
			t.Errorf("pickSize(%s×%s %s) = %v %s, want %v %s", tt.w, tt.h, tt.method, got, method, tt.want, tt.wantMethod)
		}
	}
}

func TestReferencedMedia(t *testing.T) {
	tests := []struct {
		evType, content string
		want            []string
	}{
		{"m.room.message", `{"msgtype":"m.image","url":"mxc://ward.test/abc","info":{"thumbnail_url":"mxc://ward.test/th_1"}}`, []string{"abc", "th_1"}},
		{"m.room.message", `{"file":{"url":"mxc://ward.test/enc"},"info":{"thumbnail_file":{"url":"mxc://ward.test/encth"}}}`, []string{"enc", "encth"}},
		{"m.room.message", `{"m.new_content":{"url":"mxc://ward.test/edited"}}`, []string{"edited"}},
		{"m.room.member", `{"membership":"join","avatar_url":"mxc://ward.test/av"}`, []string{"av"}},
		{"m.room.avatar", `{"url":"mxc://ward.test/roomav"}`, []string{"roomav"}},
		{"m.room.message", `{"url":"mxc://other.example/abc"}`, nil},
		{"m.room.message", `{"url":"mxc://ward.test/../../etc"}`, nil},
		{"m.room.message", `{"url":42}`, nil},
		{"m.room.encrypted", `{"url":"mxc://ward.test/abc"}`, nil},
		{"m.room.message", `not json`, nil},
	}
	for _, tt := range tests {
		if got := ReferencedMedia("ward.test", tt.evType, []byte(tt.content)); !slices.Equal(got, tt.want) {
			t.Errorf("%s %s: %v, want %v", tt.evType, tt.content, got, tt.want)
		}
	}
}

// Spec: client-server-api "Serving inline content".
func TestServingHeaders(t *testing.T) {
	tests := []struct{ declared, name, ct, disp string }{
		{"image/png", "a.png", "image/png", "inline; filename=a.png"},
		{"image/webp", "", "image/webp", "inline"},
		{"image/svg+xml", "x.svg", "application/octet-stream", "attachment; filename=x.svg"},
		{"text/html", "x.html", "application/octet-stream", "attachment; filename=x.html"},
		{"text/plain; charset=utf-8", "notes.txt", "text/plain; charset=utf-8", "attachment; filename=notes.txt"},
		{"application/pdf", "plan.pdf", "application/octet-stream", "attachment; filename=plan.pdf"},
		{"video/mp4", "a b.mp4", "video/mp4", `attachment; filename="a b.mp4"`},
	}
	for _, tt := range tests {
		ct, disp := ServingHeaders(tt.declared, tt.name)
		if ct != tt.ct || disp != tt.disp {
			t.Errorf("ServingHeaders(%q, %q) = %q, %q; want %q, %q", tt.declared, tt.name, ct, disp, tt.ct, tt.disp)
		}
	}
}

func TestMakeThumbnailGIF(t *testing.T) {
	pal := image.NewPaletted(image.Rect(0, 0, 400, 200), []color.Color{color.Black, color.White})
	var buf bytes.Buffer
	if err := gif.Encode(&buf, pal, nil); err != nil {
		t.Fatal(err)
	}
	out, ct, err := makeThumbnail(bytes.NewReader(buf.Bytes()), thumbnailSize{96, 96}, "crop")
	if err != nil || ct != "image/png" {
		t.Fatalf("gif thumbnail: %v %s", err, ct)
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(out))
	if err != nil || cfg.Width != 96 || cfg.Height != 96 {
		t.Fatalf("gif thumbnail is %dx%d (%v)", cfg.Width, cfg.Height, err)
	}
}

// FuzzUploadParameters feeds the pieces of an upload and a thumbnail
// request a client controls (file name, content type, media id, thumbnail
// parameters) to their parsers: no panic, and what comes out is safe to
// put in a header or a path.
func FuzzUploadParameters(f *testing.F) {
	f.Add("photo.png", "image/png", "abcDEF123_-", "96", "96", "crop")
	f.Add("../../etc/passwd", "text/html; charset=utf-8", "../x", "-1", "0", "")
	f.Add("r\u00e9sultats \"final\".csv", "multipart/form-data; boundary=x", "", "10001", "x", "stretch")
	f.Add("\x00\r\nX-Injected: 1", "image/png\r\nX: y", "a.b", "32", "32", "scale")
	f.Fuzz(func(t *testing.T, name, contentType, mediaID, width, height, method string) {
		clean := CleanFileName(name)
		if len(clean) > 255 || !utf8.ValidString(clean) || strings.ContainsAny(clean, "/\\\"\r\n\x00") {
			t.Fatalf("CleanFileName(%q) = %q", name, clean)
		}
		ct := CleanContentType(contentType)
		if strings.ContainsAny(ct, "\r\n") || ct == "" {
			t.Fatalf("CleanContentType(%q) = %q", contentType, ct)
		}
		served, disp := ServingHeaders(ct, name)
		if strings.ContainsAny(served+disp, "\r\n") {
			t.Fatalf("header injection: %q %q", served, disp)
		}
		if kind, _, err := mime.ParseMediaType(disp); err != nil || (kind != "inline" && kind != "attachment") {
			t.Fatalf("Content-Disposition %q does not parse: %v", disp, err)
		}
		if ValidMediaID(mediaID) && strings.ContainsAny(mediaID, "./\\") {
			t.Fatalf("media id %q accepted", mediaID)
		}
		if req, err := ParseThumbnailRequest(width, height, method); err == nil {
			if req.Width <= 0 || req.Height <= 0 || (req.Method != "crop" && req.Method != "scale") {
				t.Fatalf("ParseThumbnailRequest(%q, %q, %q) = %+v", width, height, method, req)
			}
		}
	})
}
