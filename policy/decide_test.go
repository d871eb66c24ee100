package policy

import (
	"fmt"
	"testing"

	"maunium.net/go/mautrix/id"
)

// The clinic used by the tables: two patients, each with a care team and an
// assigned provider; a nurse in each team; office staff; a bot; an admin.
var (
	pat1   = Person{ID: "@pat1:c", Role: RolePatient, Teams: set("cardio"), Providers: map[id.UserID]bool{"@doc1:c": true}}
	pat2   = Person{ID: "@pat2:c", Role: RolePatient, Teams: set("ortho"), Providers: map[id.UserID]bool{"@doc2:c": true}}
	doc1   = Person{ID: "@doc1:c", Role: RoleProvider, Teams: set("cardio")}
	doc2   = Person{ID: "@doc2:c", Role: RoleProvider, Teams: set("ortho")}
	nurse1 = Person{ID: "@nurse1:c", Role: RoleNurse, Teams: set("cardio")}
	nurse2 = Person{ID: "@nurse2:c", Role: RoleNurse, Teams: set("ortho")}
	staff1 = Person{ID: "@staff1:c", Role: RoleStaff}
	staff2 = Person{ID: "@staff2:c", Role: RoleStaff}
	bot1   = Person{ID: "@bot1:c", Role: RoleBot}
	admin1 = Person{ID: "@admin1:c", Role: RoleAdmin}
	norole = Person{ID: "@new:c"}
)

func set(names ...string) map[string]bool {
	m := map[string]bool{}
	for _, n := range names {
		m[n] = true
	}
	return m
}

// TestMayShareTable covers every row of the clinic's pair table, for both
// purposes, in both orders (the relation is symmetric).
func TestMayShareTable(t *testing.T) {
	cases := []struct {
		a, b             Person
		purpose          Purpose
		byAdmin, patient bool
		want             bool
	}{
		// patient – provider: the provider is assigned.
		{pat1, doc1, PurposeClinical, false, true, true},
		{pat1, doc2, PurposeClinical, false, true, false},
		{pat1, doc2, PurposeScheduling, false, true, false},
		// patient – nurse: the nurse works in one of the patient's teams.
		{pat1, nurse1, PurposeClinical, false, true, true},
		{pat1, nurse2, PurposeClinical, false, true, false},
		// patient – staff, patient – bot: scheduling rooms only.
		{pat1, staff1, PurposeScheduling, false, true, true},
		{pat1, staff1, PurposeClinical, false, true, false},
		{pat1, bot1, PurposeScheduling, false, true, true},
		{pat1, bot1, PurposeClinical, false, true, false},
		// patient – patient: never, unless an admin made the room.
		{pat1, pat2, PurposeClinical, false, true, false},
		{pat1, pat2, PurposeScheduling, false, true, false},
		{pat1, pat2, PurposeClinical, true, true, true},
		// clinicians with each other: always.
		{doc1, doc2, PurposeClinical, false, true, true},
		{doc1, nurse2, PurposeClinical, false, true, true},
		{nurse1, nurse2, PurposeScheduling, false, false, true},
		// staff – clinician, staff – staff: rooms without patients or scheduling rooms.
		{staff1, doc1, PurposeClinical, false, false, true},
		{staff1, doc1, PurposeClinical, false, true, false},
		{staff1, doc1, PurposeScheduling, false, true, true},
		{staff1, staff2, PurposeClinical, false, false, true},
		{staff1, staff2, PurposeClinical, false, true, false},
		{staff1, nurse1, PurposeScheduling, false, true, true},
		// bots with non-patients behave like staff.
		{bot1, doc1, PurposeClinical, false, true, false},
		{bot1, doc1, PurposeScheduling, false, true, true},
		// admin – anyone: always.
		{admin1, pat1, PurposeClinical, false, true, true},
		{admin1, staff1, PurposeClinical, false, true, true},
		{admin1, bot1, PurposeScheduling, false, true, true},
		// no role: nothing but admins and oneself.
		{norole, doc1, PurposeClinical, false, false, false},
	}
	for _, c := range cases {
		for _, pair := range [][2]Person{{c.a, c.b}, {c.b, c.a}} {
			name := fmt.Sprintf("%s-%s-%s-admin=%v-patients=%v", pair[0].ID, pair[1].ID, c.purpose, c.byAdmin, c.patient)
			t.Run(name, func(t *testing.T) {
				d := MayShare(pair[0], pair[1], c.purpose, c.byAdmin, c.patient)
				if d.Allow != c.want {
					t.Fatalf("MayShare = %v (%s: %s), want %v", d.Allow, d.Rule, d.Reason, c.want)
				}
				if !d.Allow && d.Reason == "" {
					t.Fatal("a denial without a reason")
				}
			})
		}
	}
}

// TestEveryRolePairIsDecided: every role against every other role, in
// every purpose, gets a decision with a named rule (no pair falls through).
func TestEveryRolePairIsDecided(t *testing.T) {
	for _, ra := range Roles {
		for _, rb := range Roles {
			for _, p := range []Purpose{PurposeClinical, PurposeScheduling} {
				a := Person{ID: "@a:c", Role: ra}
				b := Person{ID: "@b:c", Role: rb}
				d := MayShare(a, b, p, false, ra == RolePatient || rb == RolePatient)
				if d.Rule == "" || d.Rule == "unknown-role" {
					t.Errorf("%s–%s in %s: no rule decided (%+v)", ra, rb, p, d)
				}
				if back := MayShare(b, a, p, false, ra == RolePatient || rb == RolePatient); back.Allow != d.Allow {
					t.Errorf("%s–%s in %s: not symmetric", ra, rb, p)
				}
			}
		}
	}
}

// TestMayJoinRoomConsequences: the two consequences the clinic relies on.
func TestMayJoinRoomConsequences(t *testing.T) {
	// A provider who may reach two patients still cannot bring the second
	// into the first one's room.
	docBoth := Person{ID: "@docboth:c", Role: RoleProvider}
	p1 := Person{ID: "@p1:c", Role: RolePatient, Providers: map[id.UserID]bool{"@docboth:c": true}}
	p2 := Person{ID: "@p2:c", Role: RolePatient, Providers: map[id.UserID]bool{"@docboth:c": true}}
	room := RoomFacts{Purpose: PurposeClinical, Members: []Person{docBoth, p1}}
	if d := MayJoin(p2, room); d.Allow || d.Rule != "patient-patient" {
		t.Fatalf("second patient brought into the first one's room: %+v", d)
	}
	// Inviting a colleague into a patient's room needs that colleague to be
	// allowed with the patient.
	room = RoomFacts{Purpose: PurposeClinical, Members: []Person{doc1, pat1}}
	if d := MayJoin(doc2, room); d.Allow {
		t.Fatal("unassigned colleague let into a patient's room")
	}
	if d := MayJoin(nurse1, room); !d.Allow {
		t.Fatalf("the patient's team nurse refused: %+v", d)
	}
	// Staff never see a clinical room with a patient.
	if d := MayJoin(staff1, room); d.Allow {
		t.Fatal("office staff let into a clinical room with a patient")
	}
	// ...but join a clinical room without patients, and scheduling rooms.
	if d := MayJoin(staff1, RoomFacts{Purpose: PurposeClinical, Members: []Person{doc1, nurse1}}); !d.Allow {
		t.Fatalf("staff refused from a staff–clinician room: %+v", d)
	}
	if d := MayJoin(staff1, RoomFacts{Purpose: PurposeScheduling, Members: []Person{pat1}}); !d.Allow {
		t.Fatalf("staff refused from a scheduling room: %+v", d)
	}
	// A room without patients becomes one with the newcomer: staff inside
	// block a patient joining a clinical room.
	if d := MayJoin(pat1, RoomFacts{Purpose: PurposeClinical, Members: []Person{doc1, staff1}}); d.Allow {
		t.Fatal("patient let into a clinical room that holds office staff")
	}
	if d := MayJoin(norole, RoomFacts{Purpose: PurposeClinical, Members: []Person{admin1}}); d.Allow {
		t.Fatal("a user without a role was let in")
	}
}

func TestMayCreate(t *testing.T) {
	cases := []struct {
		name     string
		creator  Person
		invitees []Person
		purpose  Purpose
		want     bool
	}{
		{"patient DMs assigned provider", pat1, []Person{doc1}, PurposeClinical, true},
		{"patient DMs unassigned provider", pat1, []Person{doc2}, PurposeClinical, false},
		{"patient DMs another patient", pat1, []Person{pat2}, PurposeClinical, false},
		{"admin brings patients together", admin1, []Person{pat1, pat2}, PurposeClinical, true},
		{"provider invites two of own patients", doc1, []Person{pat1, Person{ID: "@p3:c", Role: RolePatient, Providers: map[id.UserID]bool{"@doc1:c": true}}}, PurposeClinical, false},
		{"staff schedules with patient", staff1, []Person{pat1}, PurposeScheduling, true},
		{"staff in clinical room with patient", staff1, []Person{pat1}, PurposeClinical, false},
		{"care team consult", doc1, []Person{doc2, nurse1, nurse2}, PurposeClinical, true},
		{"unknown purpose", doc1, nil, Purpose("party"), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if d := MayCreate(c.creator, c.invitees, c.purpose); d.Allow != c.want {
				t.Fatalf("MayCreate = %+v, want allow=%v", d, c.want)
			}
		})
	}
}

func TestMaySendRequiresEncryptionInClinicalRooms(t *testing.T) {
	envelope := `"algorithm":"m.megolm.v1.aes-sha2","ciphertext":"AwgA","sender_key":"k","device_id":"D","session_id":"s"`
	cases := []struct {
		purpose Purpose
		evType  string
		content string
		want    bool
	}{
		{PurposeClinical, "m.room.encrypted", `{` + envelope + `}`, true},
		{PurposeClinical, "m.room.encrypted", `{` + envelope + `,"m.relates_to":{"rel_type":"m.thread","event_id":"$e","is_falling_back":true,"m.in_reply_to":{"event_id":"$f"}}}`, true},
		{PurposeClinical, "m.room.encrypted", `{` + envelope + `,"body":"plaintext"}`, false},
		{PurposeClinical, "m.room.encrypted", `{"body":"plaintext","msgtype":"m.text"}`, false},
		{PurposeClinical, "m.room.encrypted", `{"algorithm":"m.megolm.v1.aes-sha2"}`, false},
		{PurposeClinical, "m.room.encrypted", `{"algorithm":"m.megolm.v1.aes-sha2","ciphertext":{"body":"x"}}`, false},
		{PurposeClinical, "m.room.encrypted", `{` + envelope + `,"m.relates_to":{"rel_type":"m.replace","event_id":"$e","m.new_content":{"body":"x"}}}`, false},
		{PurposeClinical, "m.room.encrypted", `{` + envelope + `,"m.relates_to":{"m.in_reply_to":{"event_id":"$e","body":"x"}}}`, false},
		{PurposeClinical, "m.room.message", `{"body":"x","msgtype":"m.text"}`, false},
		{PurposeClinical, "m.sticker", `{}`, false},
		{PurposeClinical, "org.example.custom", `{}`, false},
		{PurposeClinical, "m.reaction", `{"m.relates_to":{"rel_type":"m.annotation","event_id":"$e","key":"👍"}}`, true},
		{PurposeClinical, "m.reaction", `{"body":"plaintext","msgtype":"m.text"}`, false},
		{PurposeClinical, "m.reaction", `{"m.relates_to":{"rel_type":"m.annotation","event_id":"$e","key":"k"},"body":"x"}`, false},
		{PurposeClinical, "m.reaction", `{"m.relates_to":{"rel_type":"m.annotation","event_id":"$e","key":"k","body":"x"}}`, false},
		{PurposeClinical, "m.reaction", `{"m.relates_to":{"rel_type":"m.reference","event_id":"$e","key":"k"}}`, false},
		{PurposeClinical, "m.room.redaction", `{}`, true},
		{PurposeClinical, "m.room.redaction", `{"redacts":"$e"}`, true},
		{PurposeClinical, "m.room.redaction", `{"reason":"the diagnosis was wrong"}`, false},
		{PurposeScheduling, "m.room.message", `{"body":"x","msgtype":"m.notice"}`, true},
		{PurposeScheduling, "m.reaction", `{"body":"x"}`, true},
	}
	for _, c := range cases {
		if d := MaySend(c.purpose, c.evType, []byte(c.content)); d.Allow != c.want {
			t.Errorf("MaySend(%s, %s, %s) = %+v, want %v", c.purpose, c.evType, c.content, d, c.want)
		}
	}
	for _, c := range []struct {
		purpose Purpose
		evType  string
		want    bool
	}{
		{PurposeClinical, "m.room.name", true},
		{PurposeClinical, "m.room.topic", true},
		{PurposeClinical, PurposeEventType, true},
		{PurposeClinical, "im.vector.modular.widgets", true},
		{PurposeClinical, "m.room.message", false},
		{PurposeClinical, "com.example.note", false},
		{PurposeScheduling, "com.example.note", true},
	} {
		if d := MaySetState(c.purpose, true, c.evType, []byte(`{}`)); d.Allow != c.want {
			t.Errorf("MaySetState(%s, %s) = %+v, want %v", c.purpose, c.evType, d, c.want)
		}
	}
}
