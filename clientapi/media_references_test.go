package clientapi_test

import (
	"bytes"
	"context"
	"net/url"
	"testing"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/crypto/attachment"
	"maunium.net/go/mautrix/id"

	"ward/internal/config"
	"ward/internal/dbtest"
	"ward/internal/server/servertest"
	"ward/policy"
)

// uploadScan is okafor's private scan, which nobody else may fetch yet.
func uploadScan(t *testing.T, ts *servertest.TS, okafor *member, contentType string) (id.ContentURI, []byte) {
	t.Helper()
	body := pngBytes(t, 120, 80)
	up, err := okafor.cli.UploadBytesWithName(context.Background(), body, contentType, "scan.png")
	if err != nil {
		t.Fatal(err)
	}
	return up.ContentURI, body
}

// A media id is not a public link: a reference in an event grants the
// room's members access only if its sender could fetch the item when the
// event was sent (README "Who may fetch an item"). A patient who learns
// another user's media id cannot open it by referencing it himself, in any
// place of an event that counts as a reference.
func TestMediaReferenceNeedsTheSenderToSeeTheItem(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		okafor, novak := register(t, ts, "okafor"), register(t, ts, "novak")
		uri, _ := uploadScan(t, ts, okafor, "image/png")
		mxc := uri.String()
		download(t, ts, novak.cli.AccessToken, uri).wantError(t, "before any reference", 404, "M_NOT_FOUND")

		image := func(extra map[string]any) map[string]any {
			c := map[string]any{"msgtype": "m.image", "body": "scan.png"}
			for k, v := range extra {
				c[k] = v
			}
			return c
		}
		for _, tc := range []struct {
			name string
			// send references the item in a room of novak's own.
			send func(room id.RoomID)
		}{
			{"m.room.avatar url", func(room id.RoomID) {
				novak.setState(room, "m.room.avatar", map[string]any{"url": mxc})
			}},
			{"url", func(room id.RoomID) { novak.send(room, "m.room.message", image(map[string]any{"url": mxc})) }},
			{"file.url", func(room id.RoomID) {
				novak.send(room, "m.room.message", image(map[string]any{"file": map[string]any{"url": mxc, "v": "v2"}}))
			}},
			{"info.thumbnail_url", func(room id.RoomID) {
				novak.send(room, "m.room.message", image(map[string]any{"info": map[string]any{"thumbnail_url": mxc}}))
			}},
			{"info.thumbnail_file.url", func(room id.RoomID) {
				novak.send(room, "m.room.message", image(map[string]any{"info": map[string]any{"thumbnail_file": map[string]any{"url": mxc}}}))
			}},
			{"m.new_content of an edit", func(room id.RoomID) {
				orig := novak.say(room, "an image follows")
				novak.send(room, "m.room.message", map[string]any{"msgtype": "m.text", "body": "* scan",
					"m.new_content": image(map[string]any{"url": mxc, "info": map[string]any{"thumbnail_url": mxc}}),
					"m.relates_to":  map[string]any{"rel_type": "m.replace", "event_id": orig}})
			}},
			{"a state event of another type", func(room id.RoomID) {
				novak.ok("PUT", roomPath(room, "state", "org.example.poster", "x"), map[string]any{"url": mxc})
			}},
		} {
			room := novak.createRoom(nil)
			tc.send(room)
			download(t, ts, novak.cli.AccessToken, uri).wantError(t, "after a reference in "+tc.name, 404, "M_NOT_FOUND")
		}

		// The room's initial state is appended by the same path.
		novak.createRoom(map[string]any{"initial_state": []any{
			map[string]any{"type": "m.room.avatar", "state_key": "", "content": map[string]any{"url": mxc}},
		}})
		download(t, ts, novak.cli.AccessToken, uri).wantError(t, "after initial_state m.room.avatar", 404, "M_NOT_FOUND")
		thumbnail(t, ts, novak.cli.AccessToken, uri, "width=32&height=32&method=crop").
			wantError(t, "thumbnail after all references", 404, "M_NOT_FOUND")
		if a := download(t, ts, okafor.cli.AccessToken, uri); a.Status != 200 {
			t.Fatalf("uploader: %d", a.Status)
		}
	})
}

// Forwarding keeps working: a member who may see an item (through a room
// where it was legitimately sent) and sends it on grants the members of the
// room it is forwarded to, who keep access after the forwarder has left
// both rooms; a reference by one who no longer may see it grants nothing,
// and an admin's reference counts.
func TestMediaForwardByWhoMaySeeTheItem(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		okafor, carol, dave, erin := register(t, ts, "okafor"), register(t, ts, "carol"), register(t, ts, "dave"), register(t, ts, "erin")
		uri, body := uploadScan(t, ts, okafor, "image/png")
		content := map[string]any{"msgtype": "m.image", "body": "scan.png", "url": uri.String(),
			"info": map[string]any{"mimetype": "image/png", "thumbnail_url": uri.String()}}

		first := okafor.createRoom(nil)
		okafor.invite(first, carol)
		carol.join(first)
		okafor.send(first, "m.room.message", content)
		if a := download(t, ts, carol.cli.AccessToken, uri); a.Status != 200 || !bytes.Equal(a.Body, body) {
			t.Fatalf("member of the room it was sent to: %d", a.Status)
		}

		second := carol.createRoom(nil)
		carol.invite(second, dave)
		dave.join(second)
		download(t, ts, dave.cli.AccessToken, uri).wantError(t, "before the forward", 404, "M_NOT_FOUND")
		carol.send(second, "m.room.message", content)
		if a := download(t, ts, dave.cli.AccessToken, uri); a.Status != 200 || !bytes.Equal(a.Body, body) {
			t.Fatalf("member of the room it was forwarded to: %d", a.Status)
		}
		carol.leave(first)
		carol.leave(second)
		if a := download(t, ts, dave.cli.AccessToken, uri); a.Status != 200 {
			t.Fatalf("after the forwarder left both rooms: %d", a.Status)
		}
		download(t, ts, carol.cli.AccessToken, uri).wantError(t, "forwarder, in no room with it any more", 404, "M_NOT_FOUND")
		// Having left, carol could not see it: a new reference of hers
		// grants nothing.
		third := carol.createRoom(nil)
		carol.invite(third, erin)
		erin.join(third)
		carol.send(third, "m.room.message", content)
		download(t, ts, erin.cli.AccessToken, uri).wantError(t, "reference by a former member", 404, "M_NOT_FOUND")

		// An admin may fetch everything, so an admin's reference counts.
		cli, err := mautrix.NewClient(ts.URL, "@admin1:ward.test", registerAdmin(t, ts, "admin1"))
		if err != nil {
			t.Fatal(err)
		}
		admin := &member{t: t, ts: ts, cli: cli, ID: cli.UserID}
		fourth := admin.createRoom(nil)
		admin.invite(fourth, erin)
		erin.join(fourth)
		admin.send(fourth, "m.room.message", content)
		if a := download(t, ts, erin.cli.AccessToken, uri); a.Status != 200 {
			t.Fatalf("member of a room where an admin sent it: %d", a.Status)
		}
	})
}

// The profile-avatar rule covers the uploader's own avatar only: setting
// someone else's media id as one's avatar shows it to nobody, neither
// through the rule nor through the member events that carry the avatar
// into rooms, including the invites another user sends (which copy the
// invitee's profile).
func TestMediaAvatarOfSomeoneElsesItem(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		okafor, novak, carol := register(t, ts, "okafor"), register(t, ts, "novak"), register(t, ts, "carol")
		ctx := context.Background()
		uri, _ := uploadScan(t, ts, okafor, "image/png")

		own := novak.createRoom(nil)
		if err := novak.cli.SetAvatarURL(ctx, uri); err != nil {
			t.Fatal(err)
		}
		// The profile change sent a member event into novak's room.
		if got := novak.ok("GET", roomPath(own, "state", "m.room.member", string(novak.ID)), nil).Get("avatar_url").Str; got != uri.String() {
			t.Fatalf("member event avatar_url %q", got)
		}
		download(t, ts, novak.cli.AccessToken, uri).wantError(t, "own avatar, not the uploader", 404, "M_NOT_FOUND")
		download(t, ts, carol.cli.AccessToken, uri).wantError(t, "someone else's avatar, seen by a third", 404, "M_NOT_FOUND")
		// A room created after the change starts with that member event.
		novak.createRoom(nil)
		download(t, ts, novak.cli.AccessToken, uri).wantError(t, "avatar in a new room's member event", 404, "M_NOT_FOUND")

		// The uploader invites him: the invite, sent by one who may see
		// the item, carries novak's avatar, which is not hers to vouch for.
		room := okafor.createRoom(nil)
		okafor.invite(room, novak)
		novak.join(room)
		download(t, ts, novak.cli.AccessToken, uri).wantError(t, "after okafor's invite", 404, "M_NOT_FOUND")
		direct := okafor.createRoom(map[string]any{"invite": []id.UserID{novak.ID}, "is_direct": true})
		novak.join(direct)
		download(t, ts, novak.cli.AccessToken, uri).wantError(t, "after an invite at room creation", 404, "M_NOT_FOUND")

		// His own avatar still shows through an invite and the profile rule.
		mine, err := novak.cli.UploadBytes(ctx, pngBytes(t, 32, 32), "image/png")
		if err != nil {
			t.Fatal(err)
		}
		if err := novak.cli.SetAvatarURL(ctx, mine.ContentURI); err != nil {
			t.Fatal(err)
		}
		if a := download(t, ts, carol.cli.AccessToken, mine.ContentURI); a.Status != 200 {
			t.Fatalf("an uploader's own avatar: %d", a.Status)
		}
		// Replaced, no longer the profile avatar: the invite okafor sends
		// now (she may see it through the profile rule) makes it a
		// reference in that room.
		later := okafor.createRoom(nil)
		okafor.invite(later, carol)
		carol.join(later)
		okafor.invite(later, novak)
		novak.ok("PUT", "/v3/profile/"+url.PathEscape(string(novak.ID))+"/avatar_url", map[string]any{"avatar_url": ""})
		if a := download(t, ts, carol.cli.AccessToken, mine.ContentURI); a.Status != 200 {
			t.Fatalf("avatar carried by an invite from one who could see it: %d", a.Status)
		}
	})
}

// A redacted event no longer references anything: its content is gone, and
// so is the access it gave.
func TestMediaRedactionRemovesTheReference(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		okafor, carol := register(t, ts, "okafor"), register(t, ts, "carol")
		uri, _ := uploadScan(t, ts, okafor, "image/png")
		room := okafor.createRoom(nil)
		okafor.invite(room, carol)
		carol.join(room)
		ev := okafor.send(room, "m.room.message", map[string]any{"msgtype": "m.image", "body": "scan.png", "url": uri.String()})
		if a := download(t, ts, carol.cli.AccessToken, uri); a.Status != 200 {
			t.Fatalf("before the redaction: %d", a.Status)
		}
		okafor.ok("PUT", roomPath(room, "redact", string(ev), "r1"), map[string]any{"reason": "wrong patient"})
		download(t, ts, carol.cli.AccessToken, uri).wantError(t, "after the redaction", 404, "M_NOT_FOUND")
		if a := download(t, ts, okafor.cli.AccessToken, uri); a.Status != 200 {
			t.Fatalf("uploader after the redaction: %d", a.Status)
		}
	})
}

// A stranger's plaintext reference to an encrypted attachment grants him
// nothing and leaves the uploader's encrypted room-mates (rule 4) their
// access.
func TestMediaEncryptedAttachmentStrangerReference(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		okafor, bob, novak := register(t, ts, "okafor"), register(t, ts, "bob"), register(t, ts, "novak")
		ctx := context.Background()
		file := attachment.NewEncryptedFile()
		cipher := file.Encrypt(pngBytes(t, 50, 50))
		up, err := okafor.cli.UploadBytes(ctx, cipher, "application/octet-stream")
		if err != nil {
			t.Fatal(err)
		}
		room := okafor.createRoom(map[string]any{"initial_state": []any{map[string]any{
			"type": "m.room.encryption", "state_key": "", "content": map[string]any{"algorithm": "m.megolm.v1.aes-sha2"}}}})
		okafor.invite(room, bob)
		bob.join(room)
		if a := download(t, ts, bob.cli.AccessToken, up.ContentURI); a.Status != 200 {
			t.Fatalf("encrypted room-mate: %d", a.Status)
		}
		own := novak.createRoom(nil)
		novak.send(own, "m.room.message", map[string]any{"msgtype": "m.file", "body": "blob",
			"file": map[string]any{"url": up.ContentURI.String(), "v": "v2"}})
		download(t, ts, novak.cli.AccessToken, up.ContentURI).wantError(t, "stranger after his reference", 404, "M_NOT_FOUND")
		if a := download(t, ts, bob.cli.AccessToken, up.ContentURI); a.Status != 200 {
			t.Fatalf("encrypted room-mate after a stranger's reference: %d", a.Status)
		}
	})
}

// The access rules add up: an encrypted attachment that its uploader later
// shares in plaintext elsewhere opens to that room's members (rule 2) and
// stays open to the recipients of the encrypted message (rule 4), who hold
// its key. The case the tester found: a patient's attachment to her
// provider, then sent to office staff in a scheduling room.
func TestMediaEncryptedAttachmentSharedAgainInPlaintext(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		// Scheduling rooms unencrypted, so that office staff can fetch
		// the blob by the plaintext reference alone.
		ts := servertest.Start(t, b, func(c *config.Config) { c.Policy = "on"; c.EncryptSchedulingRooms = false })
		ctx := context.Background()
		okafor, alvarez := register(t, ts, "dr.okafor"), register(t, ts, "p.alvarez")
		kim, novak := register(t, ts, "frontdesk.kim"), register(t, ts, "p.novak")
		p := ts.Server.Policy
		for who, role := range map[*member]policy.Role{okafor: policy.RoleProvider, alvarez: policy.RolePatient,
			kim: policy.RoleStaff, novak: policy.RolePatient} {
			if err := p.SetRole(ctx, who.ID, role); err != nil {
				t.Fatal(err)
			}
		}
		if err := p.Assign(ctx, okafor.ID, alvarez.ID); err != nil {
			t.Fatal(err)
		}

		// Clinical rooms are encrypted whatever the request says.
		clinical := okafor.createRoom(map[string]any{"invite": []id.UserID{alvarez.ID}, "is_direct": true})
		alvarez.join(clinical)
		cipher := attachment.NewEncryptedFile().Encrypt(pngBytes(t, 50, 50))
		up, err := alvarez.cli.UploadBytes(ctx, cipher, "application/octet-stream")
		if err != nil {
			t.Fatal(err)
		}
		uri := up.ContentURI
		if a := download(t, ts, okafor.cli.AccessToken, uri); a.Status != 200 || !bytes.Equal(a.Body, cipher) {
			t.Fatalf("provider in the encrypted room: %d", a.Status)
		}

		scheduling := kim.createRoom(map[string]any{"invite": []id.UserID{alvarez.ID},
			"initial_state": []any{map[string]any{"type": "org.ward.room.purpose", "state_key": "",
				"content": map[string]any{"purpose": "scheduling"}}}})
		alvarez.join(scheduling)
		download(t, ts, kim.cli.AccessToken, uri).wantError(t, "office staff before the plaintext reference", 404, "M_NOT_FOUND")
		ev := alvarez.send(scheduling, "m.room.message", map[string]any{"msgtype": "m.file", "body": "referral.pdf",
			"url": uri.String()})

		for _, who := range []*member{okafor, kim, alvarez} {
			if a := download(t, ts, who.cli.AccessToken, uri); a.Status != 200 || !bytes.Equal(a.Body, cipher) {
				t.Errorf("%s after the plaintext reference: %d", who.ID, a.Status)
			}
		}
		download(t, ts, novak.cli.AccessToken, uri).wantError(t, "another patient", 404, "M_NOT_FOUND")

		// Redacting the plaintext event takes back only what it gave.
		alvarez.ok("PUT", roomPath(scheduling, "redact", string(ev), "r1"), map[string]any{})
		download(t, ts, kim.cli.AccessToken, uri).wantError(t, "office staff after the redaction", 404, "M_NOT_FOUND")
		if a := download(t, ts, okafor.cli.AccessToken, uri); a.Status != 200 {
			t.Errorf("provider after the redaction: %d", a.Status)
		}
	})
}
