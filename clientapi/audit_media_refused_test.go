package clientapi_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"maunium.net/go/mautrix/id"

	"ward/audit"
	"ward/internal/dbtest"
	"ward/internal/server/servertest"
)

// TestAuditMediaDownloadRefused: a download or thumbnail of an existing
// item refused to a user not entitled to it is recorded as a denied
// media.download with the media id and the actor, while the answer is the
// same 404 an unknown id gets; an unknown id records nothing.
func TestAuditMediaDownloadRefused(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		alice := registerUser(t, ts, "alice")
		bob := registerUser(t, ts, "bob")
		up := upload(t, ts, alice.AccessToken, pngBytes(t, 64, 64), "image/png", "")
		var uploaded struct {
			ContentURI id.ContentURI `json:"content_uri"`
		}
		if err := json.Unmarshal(up.Body, &uploaded); err != nil || up.Status != 200 {
			t.Fatalf("upload: %d %s", up.Status, up.Body)
		}
		uri := uploaded.ContentURI
		unknown := id.ContentURI{Homeserver: uri.Homeserver, FileID: "NoSuchMediaItemAtAll"}

		before := len(trail(t, ts))
		refused := download(t, ts, bob.AccessToken, uri)
		refused.wantError(t, "refused download", 404, "M_NOT_FOUND")
		missing := download(t, ts, bob.AccessToken, unknown)
		missing.wantError(t, "unknown media", 404, "M_NOT_FOUND")
		if !bytes.Equal(refused.Body, missing.Body) {
			t.Fatalf("a refusal answers differently from an unknown id: %s vs %s", refused.Body, missing.Body)
		}
		thumbnail(t, ts, bob.AccessToken, uri, "width=32&height=32").wantError(t, "refused thumbnail", 404, "M_NOT_FOUND")

		after := trail(t, ts)[before:]
		if len(after) != 2 {
			t.Fatalf("%d entries for two refusals and an unknown id: %+v", len(after), after)
		}
		for i, e := range after {
			if e.Action != audit.ActionMediaDownload || e.Outcome != audit.Denied || e.MediaID != uri.FileID ||
				e.ActorUser != string(bob.UserID) || e.ActorDevice != string(bob.DeviceID) || e.Reason == "" {
				t.Errorf("entry %d: %+v", i, e)
			}
		}
		if after[0].Detail["thumbnail"] != "" || after[1].Detail["thumbnail"] != "true" {
			t.Errorf("thumbnail not told apart: %+v", after)
		}
		if rep := verify(t, ts, nil); !rep.OK {
			t.Fatal(rep)
		}
	})
}
