package policy_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"ward/internal/config"
	"ward/internal/dbtest"
	"ward/internal/server/servertest"
	"ward/policy"
)

// clinic is a running server with the policy on and a small roster:
// patients pat1 (team cardio, provider doc1) and pat2 (team ortho, provider
// doc2), nurse1 in cardio, staff1, admin1.
type clinic struct {
	ts    *servertest.TS
	users map[string]*mautrix.Client
}

func startClinic(t *testing.T, b dbtest.Backend) *clinic {
	t.Helper()
	ts := servertest.Start(t, b, func(c *config.Config) { c.Policy = "on" })
	c := &clinic{ts: ts, users: map[string]*mautrix.Client{}}
	ctx := context.Background()
	p := ts.Server.Policy
	roles := map[string]policy.Role{"pat1": policy.RolePatient, "pat2": policy.RolePatient, "doc1": policy.RoleProvider,
		"doc2": policy.RoleProvider, "nurse1": policy.RoleNurse, "staff1": policy.RoleStaff, "admin1": policy.RoleAdmin}
	for name, role := range roles {
		cli, err := mautrix.NewClient(ts.URL, "", "")
		if err != nil {
			t.Fatal(err)
		}
		resp, err := cli.RegisterDummy(ctx, &mautrix.ReqRegister[any]{Username: name, Password: "password of " + name})
		if err != nil {
			t.Fatalf("register %s: %v", name, err)
		}
		cli.SetCredentials(resp.UserID, resp.AccessToken)
		cli.DeviceID = resp.DeviceID
		c.users[name] = cli
		if err := p.SetRole(ctx, resp.UserID, role); err != nil {
			t.Fatal(err)
		}
	}
	must(t, p.AddToTeam(ctx, "cardio", c.id("pat1"), policy.KindPatient))
	must(t, p.AddToTeam(ctx, "cardio", c.id("nurse1"), policy.KindClinician))
	must(t, p.AddToTeam(ctx, "cardio", c.id("doc1"), policy.KindClinician))
	must(t, p.AddToTeam(ctx, "ortho", c.id("pat2"), policy.KindPatient))
	must(t, p.Assign(ctx, c.id("doc1"), c.id("pat1")))
	must(t, p.Assign(ctx, c.id("doc2"), c.id("pat2")))
	return c
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func (c *clinic) id(name string) id.UserID { return c.users[name].UserID }

// forbidden reports whether err is a 403 M_FORBIDDEN whose message holds want.
func forbidden(err error, want string) bool {
	var he mautrix.HTTPError
	if !errors.As(err, &he) || he.RespError == nil {
		return false
	}
	return he.RespError.ErrCode == "M_FORBIDDEN" && he.Response.StatusCode == http.StatusForbidden &&
		strings.Contains(he.RespError.Err, want)
}

func (c *clinic) dm(t *testing.T, from, to string) id.RoomID {
	t.Helper()
	resp, err := c.users[from].CreateRoom(context.Background(), &mautrix.ReqCreateRoom{Preset: "trusted_private_chat",
		IsDirect: true, Invite: []id.UserID{c.id(to)}})
	if err != nil {
		t.Fatalf("%s DMs %s: %v", from, to, err)
	}
	if _, err := c.users[to].JoinRoomByID(context.Background(), resp.RoomID); err != nil {
		t.Fatalf("%s joins %s's DM: %v", to, from, err)
	}
	return resp.RoomID
}

func joinedCount(t *testing.T, cli *mautrix.Client) int {
	t.Helper()
	r, err := cli.JoinedRooms(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return len(r.JoinedRooms)
}

// TestCreateRoomIsRefusedWhole: a createRoom whose invite list holds
// someone who may not be brought in is refused before any room exists,
// naming who (to a patient, not why: see refusals_test.go); a DM with
// one's own provider works.
func TestCreateRoomIsRefusedWhole(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		c := startClinic(t, b)
		ctx := context.Background()
		c.dm(t, "pat1", "doc1")
		before := joinedCount(t, c.users["pat1"])
		_, err := c.users["pat1"].CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "trusted_private_chat",
			Invite: []id.UserID{c.id("doc2")}})
		if !forbidden(err, string(c.id("doc2"))) {
			t.Fatalf("patient DMing an unassigned provider: %v", err)
		}
		_, err = c.users["pat1"].CreateRoom(ctx, &mautrix.ReqCreateRoom{Invite: []id.UserID{c.id("pat2")}})
		if !forbidden(err, "you cannot reach "+string(c.id("pat2"))) {
			t.Fatalf("patient DMing a patient: %v", err)
		}
		if after := joinedCount(t, c.users["pat1"]); after != before {
			t.Fatalf("a refused createRoom left a room behind: %d rooms, were %d", after, before)
		}
		var rooms int
		if err := c.ts.Server.DB.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM rooms`).Scan(&rooms); err != nil || rooms != 1 {
			t.Fatalf("rooms in the database: %d (%v), want only the allowed DM", rooms, err)
		}
	})
}

// TestInviteRules: a provider who may reach two patients still cannot
// bring the second into the first one's room; inviting a colleague into a
// patient's room needs that colleague to be allowed with the patient.
func TestInviteRules(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		c := startClinic(t, b)
		ctx := context.Background()
		must(t, c.ts.Server.Policy.Assign(ctx, c.id("doc1"), c.id("pat2")))
		room := c.dm(t, "doc1", "pat1")
		_, err := c.users["doc1"].InviteUser(ctx, room, &mautrix.ReqInviteUser{UserID: c.id("pat2")})
		if !forbidden(err, "patients") {
			t.Fatalf("second patient into the first one's room: %v", err)
		}
		_, err = c.users["doc1"].InviteUser(ctx, room, &mautrix.ReqInviteUser{UserID: c.id("doc2")})
		if !forbidden(err, "not assigned") {
			t.Fatalf("unassigned colleague into a patient's room: %v", err)
		}
		if _, err := c.users["doc1"].InviteUser(ctx, room, &mautrix.ReqInviteUser{UserID: c.id("nurse1")}); err != nil {
			t.Fatalf("the patient's team nurse: %v", err)
		}
		_, err = c.users["doc1"].InviteUser(ctx, room, &mautrix.ReqInviteUser{UserID: c.id("staff1")})
		if !forbidden(err, "clinical room") {
			t.Fatalf("office staff into a clinical room with a patient: %v", err)
		}
	})
}

// TestJoinOnlyByInvite: public rooms are for clinicians and admins; a
// patient cannot join one, by id or by alias.
func TestJoinOnlyByInvite(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		c := startClinic(t, b)
		ctx := context.Background()
		resp, err := c.users["doc1"].CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat", RoomAliasName: "staffroom"})
		if err != nil {
			t.Fatalf("clinician creates a public room: %v", err)
		}
		if _, err := c.users["pat1"].JoinRoomByID(ctx, resp.RoomID); !forbidden(err, "invite") {
			t.Fatalf("patient joins a public room by id: %v", err)
		}
		// By alias the room does not even exist for her (the directory is
		// for clinicians and admins).
		var re mautrix.HTTPError
		if _, err := c.users["pat1"].JoinRoom(ctx, "#staffroom:ward.test", nil); !errors.As(err, &re) ||
			re.RespError == nil || re.RespError.ErrCode != "M_NOT_FOUND" {
			t.Fatalf("patient joins a public room by alias: %v", err)
		}
		if _, err := c.users["doc2"].JoinRoom(ctx, "#staffroom:ward.test", nil); err != nil {
			t.Fatalf("colleague joins by alias: %v", err)
		}
		if _, err := c.users["pat1"].CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat"}); !forbidden(err, "public") {
			t.Fatalf("patient creates a public room: %v", err)
		}
	})
}

// TestClinicalRoomsAreEncrypted: clinical rooms get m.room.encryption at
// creation and refuse plaintext messages; scheduling rooms let staff meet
// patients; only admins change a room's purpose.
func TestClinicalRoomsAreEncrypted(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		c := startClinic(t, b)
		ctx := context.Background()
		room := c.dm(t, "pat1", "doc1")
		var enc event.EncryptionEventContent
		if err := c.users["pat1"].StateEvent(ctx, room, event.StateEncryption, "", &enc); err != nil || enc.Algorithm == "" {
			t.Fatalf("clinical room without m.room.encryption: %v", err)
		}
		if _, err := c.users["pat1"].SendText(ctx, room, "my symptoms in the clear"); !forbidden(err, "encryption required") {
			t.Fatalf("plaintext in a clinical room: %v", err)
		}
		// An allow list, not a deny list: a custom type cannot carry
		// content in the clear either.
		if _, err := c.users["pat1"].SendMessageEvent(ctx, room, event.NewEventType("com.example.note"),
			map[string]any{"body": "symptoms"}); !forbidden(err, "encryption required") {
			t.Fatalf("custom plaintext event in a clinical room: %v", err)
		}
		// Encryption cannot be switched off or made unusable, not even by an
		// admin, and the purpose cannot be set to a value the policy does
		// not know (which once read as "not clinical").
		if _, err := c.users["admin1"].JoinRoomByID(ctx, room); err != nil {
			// The admin is not in the DM; invite first.
			if _, err := c.users["doc1"].InviteUser(ctx, room, &mautrix.ReqInviteUser{UserID: c.id("admin1")}); err != nil {
				t.Fatal(err)
			}
			if _, err := c.users["admin1"].JoinRoomByID(ctx, room); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := c.users["pat1"].SendStateEvent(ctx, room, event.StateEncryption, "", map[string]any{"algorithm": "none"}); !forbidden(err, "encryption") {
			t.Fatalf("encryption replaced with none: %v", err)
		}
		_, err := c.users["admin1"].SendStateEvent(ctx, room, event.NewEventType(policy.PurposeEventType), "", map[string]any{"purpose": "social"})
		var he mautrix.HTTPError
		if !errors.As(err, &he) || he.RespError == nil || he.RespError.ErrCode != "M_BAD_JSON" {
			t.Fatalf("unknown purpose value: %v", err)
		}
		// createRoom asking for a useless algorithm gets Megolm anyway.
		odd, err := c.users["doc1"].CreateRoom(ctx, &mautrix.ReqCreateRoom{InitialState: []*event.Event{{Type: event.StateEncryption,
			Content: event.Content{Raw: map[string]any{"algorithm": "none"}}}}})
		if err != nil {
			t.Fatal(err)
		}
		var oddEnc event.EncryptionEventContent
		if err := c.users["doc1"].StateEvent(ctx, odd.RoomID, event.StateEncryption, "", &oddEnc); err != nil || oddEnc.Algorithm != "m.megolm.v1.aes-sha2" {
			t.Fatalf("clinical room created with algorithm %q (%v)", oddEnc.Algorithm, err)
		}
		if _, err := c.users["pat1"].SendMessageEvent(ctx, room, event.EventEncrypted, map[string]any{
			"algorithm": "m.megolm.v1.aes-sha2", "ciphertext": "AwgAEn...", "sender_key": "k", "session_id": "s", "device_id": "D"}); err != nil {
			t.Fatalf("encrypted message: %v", err)
		}
		// A scheduling room: staff and patient, plaintext allowed when the
		// clinic turned scheduling encryption off.
		sched, err := c.users["staff1"].CreateRoom(ctx, &mautrix.ReqCreateRoom{Invite: []id.UserID{c.id("pat1")},
			InitialState: []*event.Event{{Type: event.NewEventType(policy.PurposeEventType),
				Content: event.Content{Raw: map[string]any{"purpose": "scheduling"}}}}})
		if err != nil {
			t.Fatalf("staff schedules with a patient: %v", err)
		}
		_, err = c.users["staff1"].SendStateEvent(ctx, sched.RoomID, event.NewEventType(policy.PurposeEventType), "",
			map[string]any{"purpose": "clinical"})
		if !forbidden(err, "admins") {
			t.Fatalf("staff changes the room's purpose: %v", err)
		}
		if _, err := c.users["staff1"].CreateRoom(ctx, &mautrix.ReqCreateRoom{Invite: []id.UserID{c.id("pat1")}}); !forbidden(err, "you cannot reach "+string(c.id("pat1"))) {
			t.Fatalf("staff opens a clinical room with a patient: %v", err)
		}
	})
}

// TestDirectoryAndProfilesShowOnlyReachablePeople: a patient finds their
// provider, team nurse and office staff (for scheduling), never other
// patients or providers not assigned to them.
func TestDirectoryAndProfilesShowOnlyReachablePeople(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		c := startClinic(t, b)
		ctx := context.Background()
		res, err := c.users["pat1"].SearchUserDirectory(ctx, "", 50)
		if err != nil {
			t.Fatal(err)
		}
		found := map[id.UserID]bool{}
		for _, u := range res.Results {
			found[u.UserID] = true
		}
		for _, want := range []string{"doc1", "nurse1", "admin1", "staff1"} {
			if !found[c.id(want)] {
				t.Errorf("patient cannot find %s", want)
			}
		}
		for _, hidden := range []string{"pat2", "doc2"} {
			if found[c.id(hidden)] {
				t.Errorf("patient finds %s", hidden)
			}
		}
		if _, err := c.users["pat1"].GetProfile(ctx, c.id("pat2")); err == nil {
			t.Fatal("patient looked up another patient's profile")
		}
		if _, err := c.users["pat1"].GetProfile(ctx, c.id("doc1")); err != nil {
			t.Fatalf("patient looks up their provider: %v", err)
		}
	})
}

// TestUnassignmentRemovesProvider: when an assignment ends, the provider
// is taken out of the DM with a real leave event and a readable reason;
// the patient stays and keeps the history.
func TestUnassignmentRemovesProvider(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		c := startClinic(t, b)
		ctx := context.Background()
		room := c.dm(t, "pat1", "doc1")
		must(t, c.ts.Server.Policy.Unassign(ctx, c.id("doc1"), c.id("pat1")))
		deadline := time.Now().Add(20 * time.Second)
		for {
			var m event.MemberEventContent
			err := c.users["pat1"].StateEvent(ctx, room, event.StateMember, string(c.id("doc1")), &m)
			if err == nil && m.Membership == event.MembershipLeave {
				if !strings.Contains(m.Reason, "assignment") {
					t.Fatalf("leave without a readable reason: %q", m.Reason)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("provider still in the patient's room after unassignment (%v, %q)", err, m.Membership)
			}
			time.Sleep(100 * time.Millisecond)
		}
		if n := joinedCount(t, c.users["pat1"]); n != 1 {
			t.Fatalf("patient's rooms: %d, want the DM kept", n)
		}
	})
}
