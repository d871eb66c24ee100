package clientapi_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/crypto/attachment"
	"maunium.net/go/mautrix/id"

	"ward/internal/config"
	"ward/internal/dbtest"
	"ward/internal/server/servertest"
)

// Spec: client-server-api "Content repository": POST /_matrix/media/v3/upload,
// GET /_matrix/client/v1/media/download and /thumbnail (the recommended
// sizes, crop and scale, never upscaled), /config; "Serving inline content".
func TestMediaUploadDownloadThumbnail(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		alice := register(t, ts, "alice")
		ctx := context.Background()
		tok := alice.cli.AccessToken

		for _, tc := range []struct {
			name, contentType, format string
			body                      []byte
		}{
			{"photo.png", "image/png", "png", pngBytes(t, 1000, 700)},
			{"scan.jpg", "image/jpeg", "jpeg", jpegBytes(t, 900, 600)},
		} {
			up, err := alice.cli.UploadBytesWithName(ctx, tc.body, tc.contentType, tc.name)
			if err != nil {
				t.Fatalf("upload %s: %v", tc.name, err)
			}
			if up.ContentURI.Homeserver != "ward.test" || up.ContentURI.FileID == "" {
				t.Fatalf("content uri %v", up.ContentURI)
			}
			got, err := alice.cli.DownloadBytes(ctx, up.ContentURI)
			if err != nil || !bytes.Equal(got, tc.body) {
				t.Fatalf("download %s: %v, %d bytes back of %d", tc.name, err, len(got), len(tc.body))
			}
			a := download(t, ts, tok, up.ContentURI)
			h := a.Header
			if h.Get("Content-Type") != tc.contentType || h.Get("X-Content-Type-Options") != "nosniff" ||
				!strings.HasPrefix(h.Get("Content-Security-Policy"), "sandbox;") ||
				h.Get("Content-Disposition") != `inline; filename=`+tc.name {
				t.Fatalf("serving headers of %s: %v", tc.name, h)
			}
			// A file name in the path replaces the uploader's.
			a = fetch(t, ts, tok, "GET", mediaV1+"/download/ward.test/"+up.ContentURI.FileID+"/other.bin", nil, "")
			if a.Status != 200 || a.Header.Get("Content-Disposition") != `inline; filename=other.bin` {
				t.Fatalf("download with a file name: %d %v", a.Status, a.Header)
			}

			// crop 96x96: exactly the size asked for.
			a = thumbnail(t, ts, tok, up.ContentURI, "width=96&height=96&method=crop")
			if a.Status != 200 {
				t.Fatalf("crop thumbnail: %d %s", a.Status, a.Body)
			}
			if f, w, h := imageSize(t, a.Body); f != tc.format || w != 96 || h != 96 {
				t.Fatalf("crop thumbnail of %s: %s %dx%d", tc.name, f, w, h)
			}
			// scale 320x240: the aspect kept, inside the box, not smaller
			// than asked on the side that limits it.
			a = thumbnail(t, ts, tok, up.ContentURI, "width=320&height=240&method=scale")
			f, w, hh := imageSize(t, a.Body)
			if f != tc.format || w > 320 || hh > 240 || (w != 320 && hh != 240) {
				t.Fatalf("scale thumbnail of %s: %s %dx%d", tc.name, f, w, hh)
			}
			// A request between sizes gets the next larger one.
			a2 := thumbnail(t, ts, tok, up.ContentURI, "width=300&height=200")
			if !bytes.Equal(a2.Body, a.Body) {
				t.Fatalf("300x200 should be answered from the cached 320x240 thumbnail")
			}
			if a2.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Fatalf("thumbnail headers: %v", a2.Header)
			}
		}

		// An image smaller than asked is served as it is (never upscaled).
		small := pngBytes(t, 20, 10)
		up, err := alice.cli.UploadBytes(ctx, small, "image/png")
		if err != nil {
			t.Fatal(err)
		}
		if a := thumbnail(t, ts, tok, up.ContentURI, "width=96&height=96&method=crop"); !bytes.Equal(a.Body, small) {
			t.Fatalf("small image thumbnail: %d, %d bytes", a.Status, len(a.Body))
		}

		// Anything that is not a safe image is an attachment; a type outside
		// the allow list is served as bytes.
		a := upload(t, ts, tok, []byte("<script>alert(1)</script>"), "text/html", "?filename=page.html")
		uri, _ := id.ParseContentURI(a.json(t)["content_uri"].(string))
		a = download(t, ts, tok, uri)
		if a.Header.Get("Content-Type") != "application/octet-stream" ||
			a.Header.Get("Content-Disposition") != `attachment; filename=page.html` {
			t.Fatalf("html served with %v", a.Header)
		}
		a = upload(t, ts, tok, []byte("a,b\n"), "text/csv", "?filename=../../r%C3%A9sultats.csv")
		uri, _ = id.ParseContentURI(a.json(t)["content_uri"].(string))
		a = download(t, ts, tok, uri)
		if a.Header.Get("Content-Type") != "text/csv" ||
			a.Header.Get("Content-Disposition") != `attachment; filename*=utf-8''r%C3%A9sultats.csv` {
			t.Fatalf("csv served with %v", a.Header)
		}

		// The configuration, the frozen legacy endpoints, previews off.
		cfg, err := alice.cli.GetMediaConfig(ctx)
		if err != nil || cfg.UploadSize != ts.Config.MaxUploadBytes {
			t.Fatalf("media config: %v %v", cfg, err)
		}
		for _, p := range []string{"/_matrix/media/v3/download/ward.test/" + uri.FileID,
			"/_matrix/media/v3/download/ward.test/" + uri.FileID + "/x.csv",
			"/_matrix/media/v3/thumbnail/ward.test/" + uri.FileID + "?width=32&height=32",
			"/_matrix/media/r0/download/ward.test/" + uri.FileID} {
			fetch(t, ts, "", "GET", p, nil, "").wantError(t, "legacy "+p, 404, "M_NOT_FOUND")
			fetch(t, ts, tok, "GET", p, nil, "").wantError(t, "legacy with token "+p, 404, "M_NOT_FOUND")
		}
		fetch(t, ts, tok, "GET", mediaV1+"/preview_url?url=https%3A%2F%2Fexample.org", nil, "").
			wantError(t, "preview_url", 403, "M_FORBIDDEN")
		fetch(t, ts, "", "GET", mediaV1+"/download/ward.test/"+uri.FileID, nil, "").
			wantError(t, "download without a token", 401, "M_MISSING_TOKEN")
		fetch(t, ts, tok, "GET", mediaV1+"/download/other.example/"+uri.FileID, nil, "").
			wantError(t, "remote media", 404, "M_NOT_FOUND")
		fetch(t, ts, tok, "GET", mediaV1+"/download/ward.test/no-such-item", nil, "").
			wantError(t, "unknown media", 404, "M_NOT_FOUND")
	})
}

// Spec: client-server-api POST /_matrix/media/v1/create and
// PUT /_matrix/media/v3/upload/{serverName}/{mediaId}.
func TestMediaAsyncUpload(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		alice, bob := register(t, ts, "alice"), register(t, ts, "bob")
		ctx := context.Background()
		created, err := alice.cli.CreateMXC(ctx)
		if err != nil || created.UnusedExpiresAt.IsZero() {
			t.Fatalf("create: %v %+v", err, created)
		}
		uri := created.ContentURI
		// Not uploaded yet: the download waits timeout_ms, then says so.
		fetch(t, ts, alice.cli.AccessToken, "GET", mediaV1+"/download/ward.test/"+uri.FileID+"?timeout_ms=0", nil, "").
			wantError(t, "download before upload", 504, "M_NOT_YET_UPLOADED")
		putPath := "/_matrix/media/v3/upload/ward.test/" + uri.FileID
		fetch(t, ts, bob.cli.AccessToken, "PUT", putPath, strings.NewReader("x"), "text/plain").
			wantError(t, "upload to another's id", 403, "M_FORBIDDEN")
		body := []byte("care plan, version 1")
		if _, err := alice.cli.UploadMedia(ctx, mautrix.ReqUploadMedia{ContentBytes: body, ContentType: "text/plain", MXC: uri}); err != nil {
			t.Fatalf("async upload: %v", err)
		}
		got, err := alice.cli.DownloadBytes(ctx, uri)
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("download after async upload: %v %q", err, got)
		}
		fetch(t, ts, alice.cli.AccessToken, "PUT", putPath, strings.NewReader("v2"), "text/plain").
			wantError(t, "second upload", 409, "M_CANNOT_OVERWRITE_MEDIA")
		fetch(t, ts, alice.cli.AccessToken, "PUT", "/_matrix/media/v3/upload/ward.test/unknownid", strings.NewReader("x"), "text/plain").
			wantError(t, "upload to an unknown id", 404, "M_NOT_FOUND")
	})
}

// The encrypted attachment round trip: the client encrypts, the server
// keeps an opaque blob and never thumbnails it.
// Spec: client-server-api "Sending encrypted attachments".
func TestMediaEncryptedAttachment(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		alice, bob, carol := register(t, ts, "alice"), register(t, ts, "bob"), register(t, ts, "carol")
		ctx := context.Background()
		plain := pngBytes(t, 200, 150)
		file := attachment.NewEncryptedFile()
		cipher := file.Encrypt(plain)
		up, err := alice.cli.UploadBytes(ctx, cipher, "application/octet-stream")
		if err != nil {
			t.Fatal(err)
		}
		got, err := alice.cli.DownloadBytes(ctx, up.ContentURI)
		if err != nil {
			t.Fatal(err)
		}
		// The receiver knows the key from the event's "file" object.
		fileJSON, err := json.Marshal(file)
		if err != nil {
			t.Fatal(err)
		}
		var received attachment.EncryptedFile
		if err := json.Unmarshal(fileJSON, &received); err != nil {
			t.Fatal(err)
		}
		if err := received.DecryptInPlace(got); err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("decrypted attachment differs from the original (%v)", err)
		}
		thumbnail(t, ts, alice.cli.AccessToken, up.ContentURI, "width=32&height=32&method=crop").
			wantError(t, "thumbnail of an encrypted blob", 400, "M_UNKNOWN")

		// The event that references it is encrypted: those who share an
		// encrypted room with the uploader may fetch it, others not.
		room := alice.createRoom(map[string]any{"initial_state": []any{map[string]any{
			"type": "m.room.encryption", "state_key": "", "content": map[string]any{"algorithm": "m.megolm.v1.aes-sha2"}}}})
		alice.invite(room, bob)
		bob.join(room)
		if a := download(t, ts, bob.cli.AccessToken, up.ContentURI); a.Status != 200 || !bytes.Equal(a.Body, cipher) {
			t.Fatalf("room-mate in an encrypted room: %d", a.Status)
		}
		download(t, ts, carol.cli.AccessToken, up.ContentURI).wantError(t, "stranger", 404, "M_NOT_FOUND")
	})
}

// Ward's access rule (README "Media"): uploader, admins, and the members of
// rooms where an event referencing the item was sent; everyone else 404.
func TestMediaAccess(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		alice, bob, carol := register(t, ts, "alice"), register(t, ts, "bob"), register(t, ts, "carol")
		ctx := context.Background()
		photo := pngBytes(t, 400, 300)
		up, err := alice.cli.UploadBytesWithName(ctx, photo, "image/png", "wound.png")
		if err != nil {
			t.Fatal(err)
		}
		uri := up.ContentURI
		if a := download(t, ts, alice.cli.AccessToken, uri); a.Status != 200 {
			t.Fatalf("uploader: %d", a.Status)
		}
		// Shares no room: not found, exactly like an id that does not exist.
		notFound := func(who *member, what string) {
			t.Helper()
			download(t, ts, who.cli.AccessToken, uri).wantError(t, what, 404, "M_NOT_FOUND")
			thumbnail(t, ts, who.cli.AccessToken, uri, "width=32&height=32&method=crop").wantError(t, what+" (thumbnail)", 404, "M_NOT_FOUND")
		}
		notFound(bob, "no shared room")

		room := alice.createRoom(nil)
		alice.send(room, "m.room.message", map[string]any{"msgtype": "m.image", "body": "wound.png", "url": uri.String(),
			"info": map[string]any{"mimetype": "image/png", "w": 400, "h": 300}})
		notFound(bob, "before invite")
		alice.invite(room, bob)
		notFound(bob, "invited, not joined")
		bob.join(room)
		if a := download(t, ts, bob.cli.AccessToken, uri); a.Status != 200 || !bytes.Equal(a.Body, photo) {
			t.Fatalf("joined member: %d", a.Status)
		}
		if a := thumbnail(t, ts, bob.cli.AccessToken, uri, "width=32&height=32&method=crop"); a.Status != 200 {
			t.Fatalf("joined member thumbnail: %d %s", a.Status, a.Body)
		}
		notFound(carol, "member of no room with it")
		bob.leave(room)
		notFound(bob, "after leaving")
		if a := download(t, ts, alice.cli.AccessToken, uri); a.Status != 200 {
			t.Fatalf("uploader after all that: %d", a.Status)
		}

		// A room avatar counts as a reference too.
		av, err := alice.cli.UploadBytes(ctx, pngBytes(t, 64, 64), "image/png")
		if err != nil {
			t.Fatal(err)
		}
		download(t, ts, carol.cli.AccessToken, av.ContentURI).wantError(t, "room avatar before", 404, "M_NOT_FOUND")
		room2 := alice.createRoom(nil)
		alice.setState(room2, "m.room.avatar", map[string]any{"url": av.ContentURI.String()})
		alice.invite(room2, carol)
		carol.join(room2)
		if a := download(t, ts, carol.cli.AccessToken, av.ContentURI); a.Status != 200 {
			t.Fatalf("room avatar for a member: %d", a.Status)
		}

		// A profile avatar is visible to whoever may see the profile.
		pav, err := bob.cli.UploadBytes(ctx, pngBytes(t, 48, 48), "image/png")
		if err != nil {
			t.Fatal(err)
		}
		download(t, ts, carol.cli.AccessToken, pav.ContentURI).wantError(t, "before it is an avatar", 404, "M_NOT_FOUND")
		if err := bob.cli.SetAvatarURL(ctx, pav.ContentURI); err != nil {
			t.Fatal(err)
		}
		if a := download(t, ts, carol.cli.AccessToken, pav.ContentURI); a.Status != 200 {
			t.Fatalf("profile avatar: %d", a.Status)
		}

		// An admin may read anything.
		admin := registerAdmin(t, ts, "admin1")
		if a := download(t, ts, admin, uri); a.Status != 200 {
			t.Fatalf("admin: %d", a.Status)
		}
	})
}

// registerAdmin creates an admin through shared-secret registration and
// returns its access token.
func registerAdmin(t *testing.T, ts *servertest.TS, name string) string {
	t.Helper()
	const path = "/_synapse/admin/v1/register"
	st, body := call(t, ts, "GET", path, "", nil)
	n, _ := body["nonce"].(string)
	if st != 200 || n == "" {
		t.Fatalf("nonce: %d %v", st, body)
	}
	st, body = call(t, ts, "POST", path, "", map[string]any{"nonce": n, "username": name, "password": testPassword, "admin": true,
		"mac": sharedSecretMAC(ts.Config.RegistrationSharedSecret, n, name, testPassword, true)})
	wantOK(t, "admin registration", st, body)
	return body["access_token"].(string)
}

// Spec: client-server-api "Security considerations" of the content
// repository: a body over the limit is refused with 413 M_TOO_LARGE, and
// a quota with 403 M_FORBIDDEN.
func TestMediaLimitsAndQuota(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, func(c *config.Config) {
			c.MaxUploadBytes = 1 << 20
			c.MediaQuotaBytes = 3 << 19 // 1.5 MiB
		})
		alice := register(t, ts, "alice")
		tok := alice.cli.AccessToken
		// Declared too large: refused before reading.
		upload(t, ts, tok, make([]byte, 1<<20+1), "application/octet-stream", "").wantError(t, "over the limit", 413, "M_TOO_LARGE")
		// Not declared (chunked): refused once the limit is passed.
		a := fetch(t, ts, tok, "POST", "/_matrix/media/v3/upload", &patternReader{left: 3 << 20}, "application/octet-stream")
		a.wantError(t, "chunked over the limit", 413, "M_TOO_LARGE")
		// Exactly the limit fits; then the quota is used up.
		if a := upload(t, ts, tok, make([]byte, 1<<20), "application/octet-stream", ""); a.Status != 200 {
			t.Fatalf("upload at the limit: %d %s", a.Status, a.Body)
		}
		upload(t, ts, tok, make([]byte, 600<<10), "application/octet-stream", "").wantError(t, "over quota", 403, "M_FORBIDDEN")
		a = fetch(t, ts, tok, "POST", "/_matrix/media/v3/upload", &patternReader{left: 600 << 10}, "application/octet-stream")
		a.wantError(t, "chunked over quota", 403, "M_FORBIDDEN")
		if a := upload(t, ts, tok, make([]byte, 400<<10), "application/octet-stream", ""); a.Status != 200 {
			t.Fatalf("upload within the quota: %d %s", a.Status, a.Body)
		}
	})
}

// A truncated upload (the client hangs up before its declared length)
// leaves no file behind.
func TestMediaTruncatedUpload(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		alice := register(t, ts, "alice")
		conn, err := net.Dial("tcp", ts.Server.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "POST /_matrix/media/v3/upload HTTP/1.1\r\nHost: ward.test\r\nAuthorization: Bearer %s\r\n"+
			"Content-Type: image/png\r\nContent-Length: 100000\r\n\r\n", alice.cli.AccessToken)
		if _, err := conn.Write(jpegBytes(t, 200, 200)[:500]); err != nil {
			t.Fatal(err)
		}
		// Half-close: the server sees the body end early and still answers.
		if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("no answer to a truncated upload: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Fatalf("truncated upload answered %d", resp.StatusCode)
		}
		if files := filesUnder(t, filepath.Join(ts.Config.DataDir, "media")); len(files) != 0 {
			t.Fatalf("truncated upload left files: %v", files)
		}
	})
}

// filesUnder lists the regular files under dir.
func filesUnder(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// A thumbnail of something that is not an image, or is a broken one,
// answers with a Matrix error, never a 500.
// Spec: GET /_matrix/client/v1/media/thumbnail, 400 "cannot thumbnail".
func TestMediaThumbnailBadInput(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		alice := register(t, ts, "alice")
		tok := alice.cli.AccessToken
		good := pngBytes(t, 300, 300)
		for _, tc := range []struct {
			what, contentType string
			body              []byte
		}{
			{"text", "text/plain", []byte("not a picture")},
			{"pdf", "application/pdf", []byte("%PDF-1.4 …")},
			{"garbage declared png", "image/png", []byte("definitely not a png")},
			{"truncated png", "image/png", good[:len(good)/2]},
			{"jpeg declared, png inside", "image/jpeg", bytes.Repeat([]byte{0xff, 0xd8, 0xff}, 10)},
			{"corrupt gif", "image/gif", []byte("GIF89a\x10\x00\x10\x00garbage")},
			{"corrupt webp", "image/webp", []byte("RIFF\x10\x00\x00\x00WEBPVP8 garbage")},
		} {
			a := upload(t, ts, tok, tc.body, tc.contentType, "")
			uri, err := id.ParseContentURI(a.json(t)["content_uri"].(string))
			if err != nil {
				t.Fatal(err)
			}
			thumbnail(t, ts, tok, uri, "width=32&height=32&method=crop").wantError(t, tc.what, 400, "M_UNKNOWN")
		}
		a := upload(t, ts, tok, good, "image/png", "")
		uri, _ := id.ParseContentURI(a.json(t)["content_uri"].(string))
		thumbnail(t, ts, tok, uri, "height=32").wantError(t, "no width", 400, "M_MISSING_PARAM")
		thumbnail(t, ts, tok, uri, "width=-1&height=32").wantError(t, "negative width", 400, "M_INVALID_PARAM")
		thumbnail(t, ts, tok, uri, "width=32&height=32&method=stretch").wantError(t, "bad method", 400, "M_INVALID_PARAM")
		fetch(t, ts, tok, "GET", mediaV1+"/download/ward.test/"+uri.FileID+"?timeout_ms=soon", nil, "").
			wantError(t, "bad timeout", 400, "M_INVALID_PARAM")
		fetch(t, ts, tok, "GET", mediaV1+"/download/ward.test/..%2E", nil, "").
			wantError(t, "path in media id", 404, "M_NOT_FOUND")
	})
}

// Everything survives a restart: metadata, bodies, thumbnails, references.
func TestMediaSurvivesRestart(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		alice, bob := register(t, ts, "alice"), register(t, ts, "bob")
		ctx := context.Background()
		bodies := map[id.ContentURI][]byte{}
		for i, body := range [][]byte{pngBytes(t, 500, 400), jpegBytes(t, 300, 200), []byte("notes"), pngBytes(t, 500, 400)} {
			up, err := alice.cli.UploadBytesWithName(ctx, body, http.DetectContentType(body), fmt.Sprintf("f%d", i))
			if err != nil {
				t.Fatal(err)
			}
			bodies[up.ContentURI] = body
		}
		created, err := alice.cli.CreateMXC(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := alice.cli.UploadMedia(ctx, mautrix.ReqUploadMedia{ContentBytes: []byte("async"), ContentType: "text/plain", MXC: created.ContentURI}); err != nil {
			t.Fatal(err)
		}
		bodies[created.ContentURI] = []byte("async")
		room := alice.createRoom(nil)
		var shared id.ContentURI
		for uri := range bodies {
			shared = uri
			break
		}
		alice.send(room, "m.room.message", map[string]any{"msgtype": "m.file", "body": "f", "url": shared.String()})
		alice.invite(room, bob)
		bob.join(room)
		thumbBefore := thumbnail(t, ts, alice.cli.AccessToken, shared, "width=96&height=96&method=crop")

		ts.Restart()

		for uri, body := range bodies {
			got := download(t, ts, alice.cli.AccessToken, uri)
			if got.Status != 200 || !bytes.Equal(got.Body, body) {
				t.Fatalf("after restart %v: %d, %d bytes", uri, got.Status, len(got.Body))
			}
		}
		if a := download(t, ts, bob.cli.AccessToken, shared); a.Status != 200 {
			t.Fatalf("room member after restart: %d", a.Status)
		}
		if a := thumbnail(t, ts, alice.cli.AccessToken, shared, "width=96&height=96&method=crop"); a.Status != thumbBefore.Status || !bytes.Equal(a.Body, thumbBefore.Body) {
			t.Fatalf("thumbnail after restart: %d", a.Status)
		}
	})
}

// patternReader produces left bytes without holding them in memory.
type patternReader struct{ left int64 }

func (r *patternReader) Read(p []byte) (int, error) {
	if r.left <= 0 {
		return 0, io.EOF
	}
	n := int64(len(p))
	if n > r.left {
		n = r.left
	}
	for i := range p[:n] {
		p[i] = byte(i * 7)
	}
	r.left -= n
	return int(n), nil
}

// pngClaiming is a small PNG whose header claims w×h (CRC kept valid), so
// that the size check is reached without a huge upload.
func pngClaiming(t *testing.T, w, h uint32) []byte {
	t.Helper()
	b := pngBytes(t, 8, 8)
	// Signature (8), IHDR length (4), "IHDR" (4), width, height, ...
	binary.BigEndian.PutUint32(b[16:], w)
	binary.BigEndian.PutUint32(b[20:], h)
	binary.BigEndian.PutUint32(b[29:], crc32.ChecksumIEEE(b[12:29]))
	return b
}

// A request above the largest size (800×600) gets the largest size, with
// the same checks as any thumbnail: never the original, however large or
// broken.
// Spec: GET /_matrix/client/v1/media/thumbnail; README "Media".
func TestMediaThumbnailAboveLargestSize(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		tok := register(t, ts, "alice").cli.AccessToken
		up := func(body []byte, ct string) id.ContentURI {
			uri, err := id.ParseContentURI(upload(t, ts, tok, body, ct, "").json(t)["content_uri"].(string))
			if err != nil {
				t.Fatal(err)
			}
			return uri
		}
		const above = "width=801&height=601&method=scale"
		for _, method := range []string{"scale", "crop"} {
			q := "width=801&height=601&method=" + method
			big := up(jpegBytes(t, 1200, 900), "image/jpeg")
			a := thumbnail(t, ts, tok, big, q)
			if a.Status != 200 {
				t.Fatalf("%s above the largest size: %d %s", method, a.Status, a.Body)
			}
			if f, w, h := imageSize(t, a.Body); f != "jpeg" || w != 800 || h != 600 {
				t.Fatalf("1200×900 JPEG %s above the largest size: %s %d×%d, want the 800×600 thumbnail", method, f, w, h)
			}
		}
		thumbnail(t, ts, tok, up(pngClaiming(t, 30000, 30000), "image/png"), above).
			wantError(t, "30000×30000 above the largest size", 413, "M_TOO_LARGE")
		thumbnail(t, ts, tok, up(pngClaiming(t, 1000000, 1000000), "image/png"), above).
			wantError(t, "1,000,000² above the largest size", 413, "M_TOO_LARGE")
		png := pngBytes(t, 1000, 1000)
		thumbnail(t, ts, tok, up(png[:len(png)/2], "image/png"), above).
			wantError(t, "truncated PNG above the largest size", 400, "M_UNKNOWN")
		jpg := jpegBytes(t, 1000, 1000)
		thumbnail(t, ts, tok, up(jpg[:len(jpg)/2], "image/jpeg"), above).
			wantError(t, "truncated JPEG above the largest size", 400, "M_UNKNOWN")
		// A small image is still served as it is above the largest size.
		small := pngBytes(t, 40, 30)
		if a := thumbnail(t, ts, tok, up(small, "image/png"), above); a.Status != 200 || !bytes.Equal(a.Body, small) {
			t.Fatalf("small image above the largest size: %d, %d bytes", a.Status, len(a.Body))
		}
	})
}

// An image is served as it is only when it is no larger than asked both
// ways; a tall narrow strip is cut (crop) or scaled (scale) to fit.
// Spec: GET /_matrix/client/v1/media/thumbnail; README "Media".
func TestMediaThumbnailNarrowImage(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		tok := register(t, ts, "alice").cli.AccessToken
		for _, tc := range []struct {
			w, h  int
			query string
			maxW  int
			maxH  int
		}{
			{20, 3000, "width=32&height=32&method=crop", 32, 32},
			{20, 3000, "width=96&height=96&method=crop", 96, 96},
			{20, 3000, "width=640&height=480&method=crop", 640, 480},
			{3000, 20, "width=96&height=96&method=crop", 96, 96},
			{96, 300, "width=96&height=96&method=crop", 96, 96},
			{20, 3000, "width=32&height=32&method=scale", 32, 32},
			{20, 3000, "width=640&height=480&method=scale", 640, 480},
			{3000, 20, "width=320&height=240&method=scale", 320, 240},
		} {
			body := pngBytes(t, tc.w, tc.h)
			uri, err := id.ParseContentURI(upload(t, ts, tok, body, "image/png", "").json(t)["content_uri"].(string))
			if err != nil {
				t.Fatal(err)
			}
			a := thumbnail(t, ts, tok, uri, tc.query)
			if a.Status != 200 {
				t.Fatalf("%d×%d %s: %d %s", tc.w, tc.h, tc.query, a.Status, a.Body)
			}
			if bytes.Equal(a.Body, body) {
				t.Fatalf("%d×%d %s: served as it is", tc.w, tc.h, tc.query)
			}
			if _, w, h := imageSize(t, a.Body); w > tc.maxW || h > tc.maxH || w < 1 || h < 1 {
				t.Fatalf("%d×%d %s: %d×%d, want within %d×%d", tc.w, tc.h, tc.query, w, h, tc.maxW, tc.maxH)
			}
		}
	})
}
