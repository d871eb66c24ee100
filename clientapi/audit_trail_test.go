package clientapi_test

import (
	"bytes"
	"context"
	"database/sql"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"
	"maunium.net/go/mautrix/id"

	"ward/audit"
	"ward/internal/config"
	"ward/internal/dbtest"
	"ward/internal/server/servertest"
	"ward/policy"
)

// trail reads the whole audit trail of a test server.
func trail(t *testing.T, ts *servertest.TS) []audit.Entry {
	t.Helper()
	all, _, err := ts.Server.Audit.Query(context.Background(), audit.Filter{Limit: audit.MaxPage})
	if err != nil {
		t.Fatal(err)
	}
	return all
}

// exportAll is the trail as an operator exports it, every field included.
func exportAll(t *testing.T, ts *servertest.TS, f audit.Format) string {
	t.Helper()
	var b bytes.Buffer
	if _, err := ts.Server.Audit.Export(context.Background(), &b, f, audit.Filter{}); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func verify(t *testing.T, ts *servertest.TS, kept *audit.Checkpoint) audit.Report {
	t.Helper()
	rep, err := ts.Server.Audit.Verify(context.Background(), kept)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// roomEvents lists a room's events in stream order.
func roomEvents(t *testing.T, ts *servertest.TS, room id.RoomID) [][2]string {
	t.Helper()
	rows, err := ts.Server.DB.Read.QueryContext(context.Background(), `SELECT event_id, type FROM events WHERE room_id = $1 ORDER BY stream_pos`, string(room))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out [][2]string
	for rows.Next() {
		var e [2]string
		if err := rows.Scan(&e[0], &e[1]); err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

// want is the part of an entry a test states.
type want struct {
	action, actor, target, room, eventType string
	outcome                                audit.Outcome
}

func (w want) matches(e audit.Entry) bool {
	if w.outcome == "" {
		w.outcome = audit.Allowed
	}
	return e.Action == w.action && e.ActorUser == w.actor && e.TargetUser == w.target && e.RoomID == w.room &&
		e.EventType == w.eventType && e.Outcome == w.outcome
}

// TestAuditScriptedSession: registrations, a failed login, a second
// device, a DM with messages and a redaction, a logout produce exactly the
// expected entries in order, field by field; every event of the room has its
// entry with the room's members as recipients; the trail holds no message
// text, no token and no password, and verifies whole.
func TestAuditScriptedSession(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		alice := register(t, ts, "alice")
		bob := register(t, ts, "bob")
		st, _ := call(t, ts, "POST", "/_matrix/client/v3/login", "", map[string]any{
			"type": "m.login.password", "identifier": map[string]any{"type": "m.id.user", "user": "bob"}, "password": "wrong password 42"})
		if st != http.StatusForbidden {
			t.Fatalf("wrong password: %d", st)
		}
		bob2 := login(t, ts, "bob", "correct horse battery bob")
		room := alice.createRoom(map[string]any{"preset": "trusted_private_chat", "is_direct": true, "invite": []string{string(bob.ID)}})
		bob.join(room)
		const secret1, secret2 = "blood pressure 150 over 95, patient Smith", "increase lisinopril to 20 mg"
		m1 := alice.say(room, secret1)
		alice.say(room, secret2)
		alice.ok("PUT", roomPath(room, "redact", string(m1), "r1"), map[string]any{"reason": "typo"})
		st, _ = call(t, ts, "POST", "/_matrix/client/v3/logout", bob2.AccessToken, map[string]any{})
		if st != http.StatusOK {
			t.Fatalf("logout: %d", st)
		}

		entries := trail(t, ts)
		a, bo := string(alice.ID), string(bob.ID)
		// Entries outside the room, in order.
		var outside []audit.Entry
		var inside []audit.Entry
		for _, e := range entries {
			if e.RoomID == "" {
				outside = append(outside, e)
			} else {
				inside = append(inside, e)
			}
		}
		wantOutside := []want{
			{action: audit.ActionRegister, actor: a, target: a},
			{action: audit.ActionDeviceAdd, actor: a, target: a},
			{action: audit.ActionRegister, actor: bo, target: bo},
			{action: audit.ActionDeviceAdd, actor: bo, target: bo},
			{action: audit.ActionLogin, actor: bo, target: bo, outcome: audit.Failed},
			{action: audit.ActionDeviceAdd, actor: bo, target: bo},
			{action: audit.ActionLogin, actor: bo},
			{action: audit.ActionLogout, actor: bo, target: bo},
		}
		if len(outside) != len(wantOutside) {
			for _, e := range outside {
				t.Logf("%+v", e)
			}
			t.Fatalf("%d entries outside the room, want %d", len(outside), len(wantOutside))
		}
		for i, w := range wantOutside {
			if !w.matches(outside[i]) {
				t.Errorf("entry %d: got %+v, want %+v", i, outside[i], w)
			}
		}
		if outside[4].Reason != "invalid username or password" {
			t.Errorf("failed login reason %q", outside[4].Reason)
		}
		if outside[7].ActorDevice != string(bob2.DeviceID) || outside[7].Detail["device_id"] != string(bob2.DeviceID) {
			t.Errorf("logout entry names device %q/%q, want %s", outside[7].ActorDevice, outside[7].Detail["device_id"], bob2.DeviceID)
		}
		if outside[6].TokenID != audit.TokenID(bob2.AccessToken) {
			t.Errorf("login entry token id %q", outside[6].TokenID)
		}
		// One entry per room event, in the same order, with its type.
		evs := roomEvents(t, ts, room)
		if len(inside) != len(evs) {
			t.Fatalf("%d room entries for %d events", len(inside), len(evs))
		}
		for i, ev := range evs {
			e := inside[i]
			if e.EventID != ev[0] || e.EventType != ev[1] {
				t.Errorf("room entry %d is %s %s, want event %s %s", i, e.EventID, e.EventType, ev[0], ev[1])
			}
		}
		if !(want{action: audit.ActionRoomCreate, actor: a, room: string(room), eventType: "m.room.create"}).matches(inside[0]) {
			t.Errorf("first room entry %+v", inside[0])
		}
		var sends, invites, joins, redactions int
		for _, e := range inside {
			switch e.Action {
			case audit.ActionEventSend:
				if e.EventType == "m.room.message" {
					sends++
					if e.ActorUser != a || e.Detail["recipients"] != strings.Join([]string{a, bo}, ",") || e.Detail["recipient_count"] != "2" {
						t.Errorf("message entry %+v", e)
					}
					if e.ActorDevice != string(alice.cli.DeviceID) || e.RemoteAddr != "127.0.0.1" || e.UserAgent == "" || e.RequestID == "" {
						t.Errorf("message entry lacks where it came from: %+v", e)
					}
				}
			case audit.ActionInvite:
				invites++
				if e.TargetUser != bo {
					t.Errorf("invite entry %+v", e)
				}
			case audit.ActionJoin:
				joins++
			case audit.ActionRedact:
				redactions++
				if e.Detail["redacts"] != string(m1) || e.Reason != "" {
					t.Errorf("redaction entry %+v", e)
				}
			}
		}
		if sends != 2 || invites != 1 || joins != 2 || redactions != 1 {
			t.Errorf("sends %d invites %d joins %d redactions %d", sends, invites, joins, redactions)
		}

		for _, f := range []audit.Format{audit.JSONLines, audit.CSV} {
			all := exportAll(t, ts, f)
			for _, secret := range []string{secret1, secret2, "lisinopril", "Smith", "correct horse", "wrong password",
				alice.cli.AccessToken, bob.cli.AccessToken, bob2.AccessToken} {
				if strings.Contains(all, secret) {
					t.Errorf("the %s export holds %q", f, secret)
				}
			}
		}
		if rep := verify(t, ts, nil); !rep.OK || rep.Last != int64(len(entries)) {
			t.Fatalf("verify: %s", rep)
		}
	})
}

// TestAuditPolicyDenial: a refused patient-to-patient invite is recorded as
// denied, with the rule, the room and the invitee; an admin's role change
// is recorded as an admin action.
func TestAuditPolicyDenial(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, func(c *config.Config) { c.Policy = "on" })
		ctx := context.Background()
		dr := register(t, ts, "drjones")
		p1 := register(t, ts, "pat1")
		p2 := register(t, ts, "pat2")
		for u, r := range map[id.UserID]policy.Role{dr.ID: policy.RoleProvider, p1.ID: policy.RolePatient, p2.ID: policy.RolePatient} {
			if err := ts.Server.Policy.SetRole(ctx, u, r); err != nil {
				t.Fatal(err)
			}
		}
		room := p1.createRoom(map[string]any{})
		p1.fails("POST", roomPath(room, "invite"), map[string]any{"user_id": p2.ID}, http.StatusForbidden, "M_FORBIDDEN")
		denied, _, err := ts.Server.Audit.Query(ctx, audit.Filter{Outcome: audit.Denied})
		if err != nil {
			t.Fatal(err)
		}
		if len(denied) != 1 {
			t.Fatalf("%d denials recorded: %+v", len(denied), denied)
		}
		d := denied[0]
		if d.Action != audit.ActionPolicyDenial || d.ActorUser != string(p1.ID) || d.TargetUser != string(p2.ID) ||
			d.RoomID != string(room) || d.Reason == "" || d.Detail["rule"] == "" || d.RequestID == "" {
			t.Fatalf("denial entry %+v", d)
		}
		// An admin's role change is an admin action on the trail.
		if err := ts.Server.Policy.AdminAs("@boss:ward.test").SetRole(ctx, p2.ID, policy.RoleStaff); err != nil {
			t.Fatal(err)
		}
		admin, _, err := ts.Server.Audit.Query(ctx, audit.Filter{Action: audit.ActionAdminPrefix + "*"})
		if err != nil {
			t.Fatal(err)
		}
		if len(admin) != 1 || admin[0].ActorUser != "@boss:ward.test" || admin[0].TargetUser != string(p2.ID) ||
			admin[0].Detail["what"] != "set role staff" {
			t.Fatalf("admin entries %+v", admin)
		}
		if rep := verify(t, ts, nil); !rep.OK {
			t.Fatal(rep)
		}
	})
}

// tamper runs fn on the database of a server with a short trail and
// returns what Verify says then.
func tamperedTrail(t *testing.T, b dbtest.Backend, kept bool, fn func(ctx context.Context, tx *sql.Tx) error) (audit.Report, int64) {
	t.Helper()
	// A fresh database each time.
	if b.Name == "sqlite" {
		b.DSN = dbtest.SQLite(t)
	} else {
		b.DSN = dbtest.Postgres(t)
	}
	ts := servertest.Start(t, b, nil)
	alice := register(t, ts, "alice")
	room := alice.createRoom(nil)
	for i := range 3 {
		alice.say(room, "hello "+itoa(int64(i)))
	}
	ctx := context.Background()
	if rep := verify(t, ts, nil); !rep.OK {
		t.Fatalf("untouched trail: %s", rep)
	}
	head, err := ts.Server.Audit.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := ts.Server.DB.Tx(ctx, func(tx *sql.Tx) error { return fn(ctx, tx) }); err != nil {
		t.Fatal(err)
	}
	var k *audit.Checkpoint
	if kept {
		k = &head
	}
	return verify(t, ts, k), head.Seq
}

// TestAuditTamperEvidence: changing a field, deleting an entry, swapping two,
// inserting one and truncating the tail are each caught and named.
func TestAuditTamperEvidence(t *testing.T) {
	exec := func(q string, args ...any) func(ctx context.Context, tx *sql.Tx) error {
		return func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, q, args...)
			return err
		}
	}
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		t.Run("altered", func(t *testing.T) {
			rep, _ := tamperedTrail(t, b, false, exec(`UPDATE audit_log SET actor_user = '@mallory:ward.test' WHERE seq = 5`))
			if rep.OK || rep.BadSeq != 5 || !strings.Contains(rep.Problem, "altered") {
				t.Fatalf("got %s", rep)
			}
		})
		t.Run("removed", func(t *testing.T) {
			rep, _ := tamperedTrail(t, b, false, exec(`DELETE FROM audit_log WHERE seq = 4`))
			if rep.OK || rep.BadSeq != 4 || !strings.Contains(rep.Problem, "removed") {
				t.Fatalf("got %s", rep)
			}
		})
		t.Run("swapped", func(t *testing.T) {
			rep, _ := tamperedTrail(t, b, false, func(ctx context.Context, tx *sql.Tx) error {
				for _, q := range []string{`UPDATE audit_log SET seq = -1 WHERE seq = 3`, `UPDATE audit_log SET seq = 3 WHERE seq = 6`,
					`UPDATE audit_log SET seq = 6 WHERE seq = -1`} {
					if _, err := tx.ExecContext(ctx, q); err != nil {
						return err
					}
				}
				return nil
			})
			if rep.OK || rep.BadSeq != 3 {
				t.Fatalf("got %s", rep)
			}
		})
		t.Run("inserted", func(t *testing.T) {
			// A copy of entry 2 appended after the last one.
			rep, head := tamperedTrail(t, b, false, func(ctx context.Context, tx *sql.Tx) error {
				_, err := tx.ExecContext(ctx, `INSERT INTO audit_log (seq, ts, actor_user, actor_device, remote_addr, user_agent,
					action, target_user, room_id, event_id, event_type, media_id, team, token_id, outcome, reason, request_id,
					detail, prev_hash, hash) SELECT (SELECT MAX(seq) + 1 FROM audit_log), ts, actor_user, actor_device, remote_addr,
					user_agent, action, target_user, room_id, event_id, event_type, media_id, team, token_id, outcome, reason,
					request_id, detail, prev_hash, hash FROM audit_log WHERE seq = 2`)
				return err
			})
			if rep.OK || rep.BadSeq != head+1 {
				t.Fatalf("got %s (head %d)", rep, head)
			}
		})
		t.Run("inserted in the middle", func(t *testing.T) {
			// Entries 5… move up one place and a forged entry takes 5.
			rep, _ := tamperedTrail(t, b, false, func(ctx context.Context, tx *sql.Tx) error {
				var max int64
				if err := tx.QueryRowContext(ctx, `SELECT MAX(seq) FROM audit_log`).Scan(&max); err != nil {
					return err
				}
				for s := max; s >= 5; s-- {
					if _, err := tx.ExecContext(ctx, `UPDATE audit_log SET seq = $1 WHERE seq = $2`, s+1, s); err != nil {
						return err
					}
				}
				_, err := tx.ExecContext(ctx, `INSERT INTO audit_log (seq, ts, action, outcome, prev_hash, hash)
					SELECT 5, ts, 'login', 'allowed', hash, hash FROM audit_log WHERE seq = 4`)
				return err
			})
			if rep.OK || rep.BadSeq != 5 {
				t.Fatalf("got %s", rep)
			}
		})
		t.Run("tail truncated", func(t *testing.T) {
			// The tail goes and the head row is set back to match: only the
			// kept checkpoint shows it.
			cut := func(ctx context.Context, tx *sql.Tx) error {
				var max int64
				if err := tx.QueryRowContext(ctx, `SELECT MAX(seq) FROM audit_log`).Scan(&max); err != nil {
					return err
				}
				if _, err := tx.ExecContext(ctx, `DELETE FROM audit_log WHERE seq > $1`, max-2); err != nil {
					return err
				}
				_, err := tx.ExecContext(ctx, `UPDATE audit_head SET seq = $1, hash = (SELECT hash FROM audit_log WHERE seq = $1)`, max-2)
				return err
			}
			rep, head := tamperedTrail(t, b, false, cut)
			if !rep.OK || rep.Last != head-2 {
				t.Fatalf("without a checkpoint: %s", rep)
			}
			rep, head = tamperedTrail(t, b, true, cut)
			if rep.OK || rep.BadSeq != head-1 || !strings.Contains(rep.Problem, "truncated") {
				t.Fatalf("with the kept checkpoint: %s (head %d)", rep, head)
			}
		})
		t.Run("tail removed, head left", func(t *testing.T) {
			rep, head := tamperedTrail(t, b, false, exec(`DELETE FROM audit_log WHERE seq = (SELECT MAX(seq) FROM audit_log)`))
			if rep.OK || rep.BadSeq != head {
				t.Fatalf("got %s (head %d)", rep, head)
			}
		})
	})
}

// TestAuditRolledBackAction: a redaction that fails after its event was
// built (the redacter lacks the power level) leaves no "allowed" entry
// behind, only the failed attempt.
func TestAuditRolledBackAction(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		alice := register(t, ts, "alice")
		bob := register(t, ts, "bob")
		room := alice.createRoom(map[string]any{"preset": "private_chat"})
		alice.invite(room, bob)
		bob.join(room)
		m := alice.say(room, "hello")
		before := trail(t, ts)
		bob.fails("PUT", roomPath(room, "redact", string(m), "x1"), map[string]any{}, http.StatusForbidden, "M_FORBIDDEN")
		after := trail(t, ts)
		if len(after) != len(before)+1 || after[len(before)].Outcome != audit.Failed || after[len(before)].Action != audit.ActionRedact {
			t.Fatalf("a refused redaction left other than its failed entry: %+v", after[len(before):])
		}
		if rep := verify(t, ts, nil); !rep.OK {
			t.Fatal(rep)
		}
	})
}

// TestAuditRetention: truncation removes old entries only through a signed
// entry that verify checks; a forged truncation is caught.
func TestAuditRetention(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		alice := register(t, ts, "alice")
		room := alice.createRoom(nil)
		ctx := context.Background()
		cut := time.Now().Add(time.Second)
		time.Sleep(1100 * time.Millisecond)
		alice.say(room, "after the cut")
		before := trail(t, ts)
		n, err := ts.Server.Audit.Truncate(ctx, cut, "test")
		if err != nil {
			t.Fatal(err)
		}
		if n != int64(len(before)-1) {
			t.Fatalf("removed %d of %d", n, len(before))
		}
		rest := trail(t, ts)
		if len(rest) != 2 || rest[1].Action != audit.ActionTruncate || rest[1].Detail["signature"] == "" {
			t.Fatalf("after truncation: %+v", rest)
		}
		rep := verify(t, ts, nil)
		if !rep.OK || rep.Truncated != n || rep.First != n+1 {
			t.Fatalf("verify after truncation: %s", rep)
		}
		// Removing more and claiming the truncation did it fails the signature.
		if err := ts.Server.DB.Tx(ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `DELETE FROM audit_log WHERE seq = $1`, n+1)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if rep := verify(t, ts, nil); rep.OK || rep.BadSeq != n+1 {
			t.Fatalf("after removing past the truncation: %s", rep)
		}
	})
}

// TestAuditQuery: filters by user, room, action (and prefix), outcome and
// time; pages; the CSV export has its header.
func TestAuditQuery(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		alice := register(t, ts, "alice")
		bob := register(t, ts, "bob")
		room := alice.createRoom(map[string]any{"invite": []string{string(bob.ID)}})
		bob.join(room)
		alice.say(room, "x")
		call(t, ts, "POST", "/_matrix/client/v3/login", "", map[string]any{
			"type": "m.login.password", "identifier": map[string]any{"type": "m.id.user", "user": "bob"}, "password": "nope"})
		ctx := context.Background()
		q := func(f audit.Filter) []audit.Entry {
			t.Helper()
			es, _, err := ts.Server.Audit.Query(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			return es
		}
		for _, e := range q(audit.Filter{User: string(bob.ID)}) {
			if e.ActorUser != string(bob.ID) && e.TargetUser != string(bob.ID) {
				t.Errorf("user filter let through %+v", e)
			}
		}
		if es := q(audit.Filter{Room: string(room), Action: "room.*"}); len(es) != 4 { // create, alice join, invite, bob join
			t.Errorf("room.* in the room: %d entries", len(es))
		}
		if es := q(audit.Filter{Outcome: audit.Failed}); len(es) != 1 || es[0].Action != audit.ActionLogin {
			t.Errorf("failed: %+v", es)
		}
		if es := q(audit.Filter{Until: time.Now().Add(-time.Hour)}); len(es) != 0 {
			t.Errorf("until an hour ago: %d", len(es))
		}
		all := q(audit.Filter{})
		page1, next, _ := ts.Server.Audit.Query(ctx, audit.Filter{Limit: 3})
		page2, _, _ := ts.Server.Audit.Query(ctx, audit.Filter{Limit: 3, After: next})
		if len(page1) != 3 || next != page1[2].Seq || len(page2) != 3 || page2[0].Seq != all[3].Seq {
			t.Errorf("paging: %d %d %d", len(page1), next, len(page2))
		}
		csv := exportAll(t, ts, audit.CSV)
		if !strings.HasPrefix(csv, strings.Join(audit.CSVHeader, ",")+"\n") || strings.Count(csv, "\n") != len(all)+1 {
			t.Errorf("csv export:\n%s", csv)
		}
	})
}

// TestAuditHTTP: the admin endpoint refuses non-admins (and records the
// attempt), filters and pages for admins in JSON, JSON Lines and CSV, and
// records every read.
func TestAuditHTTP(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		ctx := context.Background()
		boss := register(t, ts, "boss")
		bob := register(t, ts, "bob")
		if err := ts.Server.DB.Tx(ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `UPDATE users SET is_admin = $1 WHERE user_id = $2`, true, string(boss.ID))
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if st, body := call(t, ts, "GET", "/_ward/admin/v1/audit", bob.cli.AccessToken, nil); st != http.StatusForbidden || body["errcode"] != "M_FORBIDDEN" {
			t.Fatalf("non-admin: %d %v", st, body)
		}
		refused, _, _ := ts.Server.Audit.Query(ctx, audit.Filter{Outcome: audit.Denied})
		if len(refused) != 1 || refused[0].ActorUser != string(bob.ID) {
			t.Fatalf("refused read not recorded: %+v", refused)
		}
		res := adminGet(t, ts, boss, "/_ward/admin/v1/audit?user="+string(bob.ID)+"&limit=2")
		if n := len(res.Get("entries").Array()); n != 2 || res.Get("next_batch").Str == "" {
			t.Fatalf("first page: %s", res.Raw)
		}
		res = adminGet(t, ts, boss, "/_ward/admin/v1/audit?user="+string(bob.ID)+"&limit=2&from="+res.Get("next_batch").Str)
		if n := len(res.Get("entries").Array()); n != 1 || res.Get("entries.0.outcome").Str != "denied" {
			t.Fatalf("second page: %s", res.Raw)
		}
		reads, _, _ := ts.Server.Audit.Query(ctx, audit.Filter{Action: audit.ActionAuditRead})
		if len(reads) != 2 || reads[0].ActorUser != string(boss.ID) || reads[0].Detail["filter_user"] != string(bob.ID) {
			t.Fatalf("reads recorded: %+v", reads)
		}
		for _, format := range []string{"csv", "jsonl"} {
			req, _ := http.NewRequest("GET", ts.URL+"/_ward/admin/v1/audit?action=register&format="+format, nil)
			req.Header.Set("Authorization", "Bearer "+boss.cli.AccessToken)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var body bytes.Buffer
			_, _ = body.ReadFrom(resp.Body)
			resp.Body.Close()
			lines := strings.Split(strings.TrimSpace(body.String()), "\n")
			want := 2
			if format == "csv" {
				want = 3
			}
			if resp.StatusCode != http.StatusOK || len(lines) != want {
				t.Fatalf("%s: %d %q", format, resp.StatusCode, body.String())
			}
		}
		res = adminGet(t, ts, boss, "/_ward/admin/v1/audit/verify")
		if !res.Get("ok").Bool() {
			t.Fatalf("verify: %s", res.Raw)
		}
		// "0:", an empty trail's checkpoint, is a checkpoint too.
		if res := adminGet(t, ts, boss, "/_ward/admin/v1/audit/verify?checkpoint=0:"); !res.Get("ok").Bool() {
			t.Fatalf("verify?checkpoint=0: %s", res.Raw)
		}
		if cp := adminGet(t, ts, boss, "/_ward/admin/v1/audit/checkpoint"); cp.Get("seq").Int() == 0 {
			t.Fatalf("checkpoint: %s", cp.Raw)
		}
	})
}

// adminGet calls an admin endpoint and wants 200.
func adminGet(t *testing.T, ts *servertest.TS, m *member, path string) gjson.Result {
	t.Helper()
	req, _ := http.NewRequest("GET", ts.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+m.cli.AccessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body bytes.Buffer
	_, _ = body.ReadFrom(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body.String())
	}
	return gjson.Parse(body.String())
}
