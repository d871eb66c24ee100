package clientapi_test

import (
	"context"
	"database/sql"
	"errors"
	"maps"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"ward/accounts"
	"ward/audit"
	"ward/internal/config"
	"ward/internal/dbtest"
	"ward/internal/server/servertest"
	"ward/policy"
)

// dayEntry is an audit entry as the clinic day test expects it, field by
// field. A reason ending in "…" is a prefix.
type dayEntry struct {
	action, actor, device, target, room, eventID, eventType, media, team, token string
	outcome                                                                     audit.Outcome
	reason                                                                      string
	detail                                                                      map[string]string
}

// diff names the fields in which e differs from w.
func (w dayEntry) diff(e audit.Entry) []string {
	if w.outcome == "" {
		w.outcome = audit.Allowed
	}
	var bad []string
	check := func(name, got, want string) {
		if got != want {
			bad = append(bad, name+" is "+strconv.Quote(got)+", want "+strconv.Quote(want))
		}
	}
	check("action", e.Action, w.action)
	check("actor", e.ActorUser, w.actor)
	check("device", e.ActorDevice, w.device)
	check("target", e.TargetUser, w.target)
	check("room", e.RoomID, w.room)
	check("event id", e.EventID, w.eventID)
	check("event type", e.EventType, w.eventType)
	check("media", e.MediaID, w.media)
	check("team", e.Team, w.team)
	check("token", e.TokenID, w.token)
	check("outcome", string(e.Outcome), string(w.outcome))
	if p, ok := strings.CutSuffix(w.reason, "…"); ok {
		if !strings.HasPrefix(e.Reason, p) {
			bad = append(bad, "reason is "+strconv.Quote(e.Reason)+", want it to start "+strconv.Quote(p))
		}
	} else {
		check("reason", e.Reason, w.reason)
	}
	if !(len(e.Detail) == 0 && len(w.detail) == 0) && !maps.Equal(e.Detail, w.detail) {
		bad = append(bad, "detail is "+strconv.Quote(mapString(e.Detail))+", want "+strconv.Quote(mapString(w.detail)))
	}
	return bad
}

func mapString(m map[string]string) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(m)) {
		b.WriteString(k + "=" + m[k] + " ")
	}
	return strings.TrimSpace(b.String())
}

// dayLogin logs a roster user in with mautrix and returns the client.
func dayLogin(t *testing.T, ts *servertest.TS, localpart, password string) (*mautrix.Client, error) {
	t.Helper()
	cli := anonClient(t, ts)
	_, err := cli.Login(context.Background(), &mautrix.ReqLogin{Type: mautrix.AuthTypePassword,
		Identifier: mautrix.UserIdentifier{Type: mautrix.IdentifierTypeUser, User: localpart}, Password: password, StoreCredentials: true})
	return cli, err
}

// TestAuditClinicDay: the example roster, imported as `ward admin roster
// import` does, and a scripted day on it — the password-less patient
// signing up with his intake token, logins with the roster's passwords, a
// failed login, an encrypted patient–provider DM, an encrypted attachment
// uploaded and downloaded, a refused patient-to-patient invite, an admin's
// role change through the admin API — produce exactly the expected
// entries, in order, compared field by field (recipients included); the
// JSON Lines and CSV exports hold no message text, password or token; the
// chain verifies whole.
func TestAuditClinicDay(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, func(c *config.Config) { c.Policy = "on" })
		ctx := context.Background()
		start := time.Now().Add(-time.Second)
		const it = "ward admin (command line, clinic-it)"
		u := func(localpart string) string { return "@" + localpart + ":ward.test" }

		// 07:00 — IT imports the roster, as the command line does.
		f, err := os.Open("../policy/testdata/roster-example.csv")
		if err != nil {
			t.Fatal(err)
		}
		rows, err := policy.ParseRoster(f, ts.Server.Accounts.ValidLocalpart, accounts.CheckNewPassword)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		rep, err := ts.Server.Policy.AdminAs(it).ImportRoster(ctx, ts.Server.Accounts, rows, policy.RosterOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Tokens) != 1 || rep.Tokens[0].UserID != id.UserID(u("p.haddad")) {
			t.Fatalf("roster tokens: %+v", rep.Tokens)
		}
		// The roster's admin role does not make a server admin (README:
		// Clinic policy); the compliance officer is made one by hand, as
		// `ward admin user create --admin` would, without an entry.
		if err := ts.Server.DB.Tx(ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `UPDATE users SET is_admin = $1 WHERE user_id = $2`, true, u("compliance"))
			return err
		}); err != nil {
			t.Fatal(err)
		}
		intakeSecret := rep.Tokens[0].Token
		toks, err := ts.Server.Policy.IntakeTokens(ctx)
		if err != nil || len(toks) != 1 {
			t.Fatalf("intake tokens: %v %+v", err, toks)
		}
		intakeID := toks[0].ID

		// 08:00 — p.haddad (no password on the roster) signs up with the
		// intake token he was handed.
		const haddadPassword = "haddad chose this password"
		reg := map[string]any{"username": "p.haddad", "password": haddadPassword}
		st, body := call(t, ts, "POST", v3+"/register", "", reg)
		if st != http.StatusUnauthorized {
			t.Fatalf("first /register: %d %v", st, body)
		}
		reg["auth"] = map[string]any{"type": "m.login.registration_token", "token": intakeSecret, "session": body["session"]}
		st, body = call(t, ts, "POST", v3+"/register", "", reg)
		if st != http.StatusOK || body["user_id"] != u("p.haddad") {
			t.Fatalf("sign-up with the intake token: %d %v", st, body)
		}
		haddadToken, haddadDevice := body["access_token"].(string), body["device_id"].(string)

		// 08:30 — the others log in with the roster's passwords; p.novak
		// mistypes his first.
		passwords := map[string]string{}
		for _, r := range rows {
			passwords[r.Localpart] = r.Password
		}
		mustLogin := func(localpart string) *mautrix.Client {
			t.Helper()
			cli, err := dayLogin(t, ts, localpart, passwords[localpart])
			if err != nil {
				t.Fatalf("login %s: %v", localpart, err)
			}
			return cli
		}
		dr := mustLogin("dr.okafor")
		alv := mustLogin("p.alvarez")
		const wrongPassword = "correct-horse-battery-66"
		if _, err := dayLogin(t, ts, "p.novak", wrongPassword); err == nil {
			t.Fatal("a wrong password logged in")
		}
		nov := mustLogin("p.novak")
		boss := mustLogin("compliance")

		// 09:00 — p.alvarez opens an encrypted DM with her provider; both
		// write (megolm envelopes: the server never sees the text).
		dm, err := alv.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "trusted_private_chat", IsDirect: true, Invite: []id.UserID{dr.UserID},
			InitialState: []*event.Event{{Type: event.StateEncryption, Content: event.Content{Parsed: &event.EncryptionEventContent{Algorithm: id.AlgorithmMegolmV1}}}}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := dr.JoinRoomByID(ctx, dm.RoomID); err != nil {
			t.Fatal(err)
		}
		ciphertexts := []string{"AwgAEpABsecretCiphertextOfAlvarezChestPain", "AwgBEpABsecretCiphertextOfOkaforReply"}
		var msgIDs []id.EventID
		for i, c := range []*mautrix.Client{alv, dr} {
			resp, err := c.SendMessageEvent(ctx, dm.RoomID, event.EventEncrypted, map[string]any{"algorithm": id.AlgorithmMegolmV1,
				"ciphertext": ciphertexts[i], "device_id": c.DeviceID, "sender_key": "senderKeyCurve25519", "session_id": "megolmSessionId"})
			if err != nil {
				t.Fatal(err)
			}
			msgIDs = append(msgIDs, resp.EventID)
		}

		// 10:00 — the provider uploads an encrypted attachment (an opaque
		// blob) and the patient downloads it.
		const attachment = "lab report: potassium 5.9 mmol/L, repeat in a week"
		up, err := dr.UploadBytes(ctx, []byte(attachment), "application/octet-stream")
		if err != nil {
			t.Fatal(err)
		}
		if got, err := alv.DownloadBytes(ctx, up.ContentURI); err != nil || string(got) != attachment {
			t.Fatalf("download: %q %v", got, err)
		}

		// 11:00 — p.alvarez tries to bring another patient in: refused.
		if _, err := alv.InviteUser(ctx, dm.RoomID, &mautrix.ReqInviteUser{UserID: nov.UserID}); !errors.Is(err, mautrix.MForbidden) {
			t.Fatalf("patient-to-patient invite: %v", err)
		}

		// 12:00 — the compliance officer (the roster's admin) makes the front
		// desk a nurse through the admin API.
		st, body = call(t, ts, "PUT", "/_ward/admin/v1/users/"+u("frontdesk.kim")+"/role", boss.AccessToken, map[string]any{"role": "nurse"})
		if st != http.StatusOK {
			t.Fatalf("role change: %d %v", st, body)
		}

		// The expected trail.
		var want []dayEntry
		for _, r := range rows {
			want = append(want, dayEntry{action: audit.ActionRegister, actor: it, target: u(r.Localpart),
				detail: map[string]string{"admin": "false"}})
		}
		roster := func(what, target string) dayEntry {
			e := dayEntry{action: audit.ActionAdminPrefix + "policy", actor: it, detail: map[string]string{"what": "roster: " + what}}
			if strings.HasPrefix(target, "@") {
				e.target = target
			} else {
				e.team = target
			}
			return e
		}
		for _, r := range rows {
			want = append(want, roster("create account ("+string(r.Role)+")", u(r.Localpart)))
			if r.Password == "" {
				want = append(want, roster("issue intake token "+intakeID, u(r.Localpart)))
			}
		}
		want = append(want,
			roster("create care team", "cardiology"),
			roster("add to care team cardiology as clinician", u("dr.okafor")),
			roster("create care team", "dermatology"),
			roster("add to care team dermatology as clinician", u("dr.lindqvist")),
			roster("add to care team cardiology as clinician", u("nurse.reyes")),
			roster("add to care team cardiology as patient", u("p.alvarez")),
			roster("assign provider "+u("dr.okafor"), u("p.alvarez")),
			roster("add to care team dermatology as patient", u("p.novak")),
			roster("assign provider "+u("dr.lindqvist"), u("p.novak")),
			dayEntry{action: audit.ActionIntakeRedeem, actor: u("p.haddad"), target: u("p.haddad"), token: intakeID,
				detail: map[string]string{"bound_account": "true"}},
			dayEntry{action: audit.ActionDeviceAdd, actor: u("p.haddad"), device: haddadDevice, target: u("p.haddad")},
		)
		loggedIn := func(c *mautrix.Client) []dayEntry {
			return []dayEntry{
				{action: audit.ActionDeviceAdd, actor: string(c.UserID), device: string(c.DeviceID), target: string(c.UserID)},
				{action: audit.ActionLogin, actor: string(c.UserID), device: string(c.DeviceID), token: audit.TokenID(c.AccessToken)},
			}
		}
		want = append(want, loggedIn(dr)...)
		want = append(want, loggedIn(alv)...)
		want = append(want, dayEntry{action: audit.ActionLogin, actor: u("p.novak"), target: u("p.novak"), outcome: audit.Failed,
			reason: "invalid username or password"})
		want = append(want, loggedIn(nov)...)
		want = append(want, loggedIn(boss)...)
		// The DM: every event with its sender and the members joined before
		// it (its recipients).
		evs := dayRoomEvents(t, ts, dm.RoomID)
		a, d := u("p.alvarez"), u("dr.okafor")
		room := string(dm.RoomID)
		roomWant := []struct {
			action, actor, device, target, evType string
			members                               []string
		}{
			{audit.ActionRoomCreate, a, alv.DeviceID.String(), "", "m.room.create", nil},
			{audit.ActionJoin, a, alv.DeviceID.String(), a, "m.room.member", []string{}},
			{audit.ActionEventSend, a, alv.DeviceID.String(), "", "m.room.power_levels", []string{a}},
			{audit.ActionEventSend, a, alv.DeviceID.String(), "", "m.room.join_rules", []string{a}},
			{audit.ActionEventSend, a, alv.DeviceID.String(), "", "m.room.history_visibility", []string{a}},
			{audit.ActionEventSend, a, alv.DeviceID.String(), "", "m.room.guest_access", []string{a}},
			{audit.ActionEventSend, a, alv.DeviceID.String(), "", "m.room.encryption", []string{a}},
			{audit.ActionEventSend, a, alv.DeviceID.String(), "", policy.PurposeEventType, []string{a}},
			{audit.ActionInvite, a, alv.DeviceID.String(), d, "m.room.member", []string{a}},
			{audit.ActionJoin, d, dr.DeviceID.String(), d, "m.room.member", []string{a}},
			{audit.ActionEventSend, a, alv.DeviceID.String(), "", "m.room.encrypted", []string{d, a}},
			{audit.ActionEventSend, d, dr.DeviceID.String(), "", "m.room.encrypted", []string{d, a}},
		}
		if len(evs) != len(roomWant) {
			t.Fatalf("the DM holds %d events, want %d: %v", len(evs), len(roomWant), evs)
		}
		if evs[10].id != string(msgIDs[0]) || evs[11].id != string(msgIDs[1]) {
			t.Fatalf("the DM's messages are %s %s, want %s", evs[10].id, evs[11].id, msgIDs)
		}
		for i, w := range roomWant {
			e := dayEntry{action: w.action, actor: w.actor, device: w.device, target: w.target, room: room,
				eventID: evs[i].id, eventType: w.evType}
			if w.members == nil {
				e.detail = map[string]string{"room_version": "11"}
			} else {
				e.detail = audit.RecipientsDetail(w.members, evs[i].pos)
				if evs[i].stateKey != nil && w.evType != "m.room.member" {
					e.detail["state_key"] = *evs[i].stateKey
				}
			}
			want = append(want, e)
		}
		want = append(want,
			dayEntry{action: audit.ActionMediaUpload, actor: d, device: dr.DeviceID.String(), media: up.ContentURI.FileID,
				detail: map[string]string{"size": itoa(int64(len(attachment)))}},
			dayEntry{action: audit.ActionMediaDownload, actor: a, device: alv.DeviceID.String(), media: up.ContentURI.FileID},
			dayEntry{action: audit.ActionPolicyDenial, actor: a, device: alv.DeviceID.String(), target: u("p.novak"), room: room,
				outcome: audit.Denied, reason: "patient-patient: …",
				detail: map[string]string{"attempted": "invite " + u("p.novak"), "rule": "patient-patient"}},
			dayEntry{action: audit.ActionAdminPrefix + "policy", actor: u("compliance"), device: boss.DeviceID.String(),
				target: u("frontdesk.kim"), detail: map[string]string{"what": "set role nurse"}},
		)

		got := trail(t, ts)
		for i := range max(len(got), len(want)) {
			switch {
			case i >= len(got):
				t.Errorf("entry %d missing: want %+v", i+1, want[i])
			case i >= len(want):
				t.Errorf("entry %d unexpected: %+v", got[i].Seq, got[i])
			default:
				if bad := want[i].diff(got[i]); len(bad) > 0 {
					t.Errorf("entry %d (%s): %s", got[i].Seq, got[i].Action, strings.Join(bad, "; "))
				}
			}
		}
		// Where each entry came from: the import has no request; the rest
		// came over HTTP from the test's loopback clients, in order.
		for i, e := range got {
			fromCLI := e.ActorUser == it || e.Action == audit.ActionRegister
			switch {
			case e.Seq != int64(i+1) || e.Time.Before(start.Truncate(time.Millisecond)) || e.Time.After(time.Now()):
				t.Errorf("entry %d: seq %d, time %s", i+1, e.Seq, e.Time)
			case i > 0 && e.Time.Before(got[i-1].Time):
				t.Errorf("entry %d is older than the one before", e.Seq)
			case fromCLI && (e.RemoteAddr != "" || e.RequestID != ""):
				t.Errorf("import entry %d names a request: %+v", e.Seq, e)
			case !fromCLI && (e.RemoteAddr != "127.0.0.1" || e.UserAgent == "" || e.RequestID == ""):
				t.Errorf("entry %d does not say where it came from: %+v", e.Seq, e)
			}
		}

		// No message text, attachment, password or token anywhere in what
		// an operator exports.
		secrets := []string{ciphertexts[0], ciphertexts[1], "senderKeyCurve25519", "megolmSessionId", attachment, "potassium",
			wrongPassword, haddadPassword, intakeSecret, haddadToken}
		for _, p := range passwords {
			if p != "" {
				secrets = append(secrets, p)
			}
		}
		for _, c := range []*mautrix.Client{dr, alv, nov, boss} {
			secrets = append(secrets, c.AccessToken)
		}
		for _, format := range []audit.Format{audit.JSONLines, audit.CSV} {
			all := exportAll(t, ts, format)
			if n := strings.Count(all, "\n"); n < len(got) {
				t.Errorf("the %s export has %d lines for %d entries", format, n, len(got))
			}
			for _, s := range secrets {
				if strings.Contains(all, s) {
					t.Errorf("the %s export holds %q", format, s)
				}
			}
		}
		if rep := verify(t, ts, nil); !rep.OK || rep.Last != int64(len(got)) {
			t.Fatalf("verify: %s", rep)
		}
	})
}

// dayEvent is one event of a room as stored.
type dayEvent struct {
	id       string
	pos      int64
	stateKey *string
}

func dayRoomEvents(t *testing.T, ts *servertest.TS, room id.RoomID) []dayEvent {
	t.Helper()
	rows, err := ts.Server.DB.Read.QueryContext(context.Background(),
		`SELECT event_id, stream_pos, state_key FROM events WHERE room_id = $1 ORDER BY stream_pos`, string(room))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []dayEvent
	for rows.Next() {
		var e dayEvent
		if err := rows.Scan(&e.id, &e.pos, &e.stateKey); err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
