package policy

import (
	"encoding/json"
	"fmt"

	"maunium.net/go/mautrix/id"
)

// Role is what a person is in the clinic.
type Role string

const (
	RolePatient  Role = "patient"
	RoleProvider Role = "provider"
	RoleNurse    Role = "nurse" // also care coordinators
	RoleStaff    Role = "staff" // office staff: scheduling only
	// RoleAdmin is the clinic's administrator in the policy's decisions.
	// It never makes a server admin (accounts' is_admin, which opens the
	// admin APIs and the audit trail): that comes only from `ward admin
	// user create --admin` or the Synapse admin API's "admin": true. The
	// reverse holds: a server admin without a clinic role counts as admin.
	RoleAdmin Role = "admin"
	RoleBot   Role = "bot"
)

// Roles lists every role, for validation and tests.
var Roles = []Role{RolePatient, RoleProvider, RoleNurse, RoleStaff, RoleAdmin, RoleBot}

// Valid reports whether r is a known role.
func (r Role) Valid() bool {
	for _, x := range Roles {
		if r == x {
			return true
		}
	}
	return false
}

// Clinician reports whether the role gives clinical care.
func (r Role) Clinician() bool { return r == RoleProvider || r == RoleNurse }

// Purpose is what a room is for.
type Purpose string

const (
	PurposeClinical   Purpose = "clinical"
	PurposeScheduling Purpose = "scheduling"
)

// PurposeEventType is the state event (state key "") that carries a room's
// purpose: {"purpose": "clinical"} or {"purpose": "scheduling"}.
const PurposeEventType = "org.ward.room.purpose"

// Person is what the rules know of one user.
type Person struct {
	ID   id.UserID
	Role Role
	// Teams are the care teams a clinician works in, or the teams that care
	// for a patient.
	Teams map[string]bool
	// Providers are a patient's assigned providers.
	Providers map[id.UserID]bool
	// Exists: the user has an account here.
	Exists bool
}

// RoomFacts is what the rules know of one room.
type RoomFacts struct {
	Purpose Purpose
	// CreatedByAdmin: an admin made the room (and so may have brought
	// patients together on purpose).
	CreatedByAdmin bool
	// Members are the joined members and pending invitees.
	Members []Person
}

// Decision is allow, or deny with a reason a person can read and the rule
// that decided it.
type Decision struct {
	Allow  bool
	Rule   string
	Reason string
	// About are the people the reason speaks of, the person brought in or
	// reached first: the refusal names only one of them to someone who may
	// not learn the reason (see Service.refuse).
	About [2]id.UserID
}

func allow(rule string) Decision { return Decision{Allow: true, Rule: rule} }

func deny(rule, format string, args ...any) Decision {
	return Decision{Rule: rule, Reason: fmt.Sprintf(format, args...)}
}

// about returns d stating the people its reason speaks of.
func (d Decision) about(people ...id.UserID) Decision {
	copy(d.About[:], people)
	return d
}

// other is the first person d speaks of who is not actor: the one a
// refusal names to someone who may not learn more. "" when d speaks of
// nobody but actor.
func (d Decision) other(actor id.UserID) id.UserID {
	for _, u := range d.About {
		if u != "" && u != actor {
			return u
		}
	}
	return ""
}

// ruleNoAccount is the rule of a refusal whose target has no account.
const ruleNoAccount = "no-account"

// hasPatient reports whether any of people is a patient.
func hasPatient(people ...[]Person) bool {
	for _, list := range people {
		for _, p := range list {
			if p.Role == RolePatient {
				return true
			}
		}
	}
	return false
}

// MayShare is the core relation: may a and b be in one room of this
// purpose, whose members (with a and b) are everyone? It is symmetric.
func MayShare(a, b Person, purpose Purpose, createdByAdmin, roomHasPatients bool) Decision {
	d := mayShare(a, b, purpose, createdByAdmin, roomHasPatients)
	if !d.Allow {
		d = d.about(a.ID, b.ID)
	}
	return d
}

func mayShare(a, b Person, purpose Purpose, createdByAdmin, roomHasPatients bool) Decision {
	if a.ID == b.ID {
		return allow("self")
	}
	if a.Role == RoleAdmin || b.Role == RoleAdmin {
		return allow("admin")
	}
	// Order the pair so that each case is written once.
	if rank(a.Role) > rank(b.Role) {
		a, b = b, a
	}
	switch {
	case a.Role == RolePatient && b.Role == RolePatient:
		if createdByAdmin {
			return allow("patient-patient-admin-room")
		}
		return deny("patient-patient", "%s and %s are both patients; patients never share a room unless an admin made it", a.ID, b.ID)
	case a.Role == RolePatient && b.Role == RoleProvider:
		if a.Providers[b.ID] {
			return allow("patient-provider-assigned")
		}
		return deny("patient-provider", "%s is not assigned to patient %s", b.ID, a.ID)
	case a.Role == RolePatient && b.Role == RoleNurse:
		for t := range a.Teams {
			if b.Teams[t] {
				return allow("patient-nurse-team")
			}
		}
		return deny("patient-nurse", "%s does not work in a care team of patient %s", b.ID, a.ID)
	case a.Role == RolePatient && (b.Role == RoleStaff || b.Role == RoleBot):
		if purpose == PurposeScheduling {
			return allow("patient-" + string(b.Role) + "-scheduling")
		}
		return deny("patient-"+string(b.Role), "%s (%s) may meet patient %s only in a scheduling room", b.ID, b.Role, a.ID)
	case a.Role.Clinician() && b.Role.Clinician():
		return allow("clinician-clinician")
	case b.Role == RoleStaff || b.Role == RoleBot:
		// staff/bot with a clinician, staff or bot.
		if purpose == PurposeScheduling || !roomHasPatients {
			return allow(string(a.Role) + "-" + string(b.Role))
		}
		return deny(string(a.Role)+"-"+string(b.Role), "%s (%s) may not be in a clinical room with patients", nonClinical(a, b).ID, nonClinical(a, b).Role)
	}
	return deny("unknown-role", "no rule lets %s (%s) and %s (%s) share a room", a.ID, roleName(a.Role), b.ID, roleName(b.Role))
}

func nonClinical(a, b Person) Person {
	if a.Role == RoleStaff || a.Role == RoleBot {
		return a
	}
	return b
}

func roleName(r Role) string {
	if r == "" {
		return "no role"
	}
	return string(r)
}

func rank(r Role) int {
	switch r {
	case RolePatient:
		return 0
	case RoleProvider:
		return 1
	case RoleNurse:
		return 2
	case RoleStaff:
		return 3
	case RoleBot:
		return 4
	}
	return 5
}

// MayJoin decides whether newcomer may be brought into (invited to, or
// join) a room: they must be allowed to share it with every member and
// pending invitee (spec'd by the clinic, not Matrix).
func MayJoin(newcomer Person, room RoomFacts) Decision {
	if newcomer.Role == "" {
		return deny("no-role", "%s has no clinic role yet; an admin must assign one", newcomer.ID).about(newcomer.ID)
	}
	withPatients := hasPatient(room.Members, []Person{newcomer})
	for _, m := range room.Members {
		if d := MayShare(newcomer, m, room.Purpose, room.CreatedByAdmin, withPatients); !d.Allow {
			return d
		}
	}
	return allow("room-members")
}

// MayCreate decides a createRoom with its invite list: the creator and every
// invitee must be able to share the room, each with every other.
func MayCreate(creator Person, invitees []Person, purpose Purpose) Decision {
	if creator.Role == "" {
		return deny("no-role", "%s has no clinic role yet; an admin must assign one", creator.ID).about(creator.ID)
	}
	if purpose != PurposeClinical && purpose != PurposeScheduling {
		return deny("purpose", "unknown room purpose %q", purpose)
	}
	room := RoomFacts{Purpose: purpose, CreatedByAdmin: creator.Role == RoleAdmin, Members: []Person{creator}}
	all := append([]Person{creator}, invitees...)
	withPatients := hasPatient(all)
	for i, a := range all {
		if a.Role == "" {
			return deny("no-role", "%s has no clinic role yet; an admin must assign one", a.ID).about(a.ID)
		}
		for _, b := range all[i+1:] {
			if d := MayShare(a, b, purpose, room.CreatedByAdmin, withPatients); !d.Allow {
				return d
			}
		}
	}
	return allow("create")
}

// MayReach decides whether a may find b at all (directory search, profile
// look-up, a DM): whether some room could hold just the two of them.
func MayReach(a, b Person) Decision {
	if a.Role == "" {
		return deny("no-role", "%s has no clinic role yet", a.ID).about(a.ID)
	}
	withPatients := a.Role == RolePatient || b.Role == RolePatient
	d := MayShare(a, b, PurposeClinical, false, withPatients)
	if d.Allow {
		return d
	}
	if s := MayShare(a, b, PurposeScheduling, false, withPatients); s.Allow {
		return s
	}
	return d
}

// What a clinical room takes in the clear. The policy judges only the
// shape of an event — its type and the names of its top-level fields —
// never what an encrypted field holds: it looks for plaintext beside the
// ciphertext, not inside it.

// encryptedFields are the only top-level fields of an m.room.encrypted
// event in a clinical room: the Megolm envelope and the relation, which
// Element sends in the clear so that the server can aggregate edits,
// replies and threads.
var encryptedFields = map[string]bool{"algorithm": true, "ciphertext": true, "sender_key": true,
	"device_id": true, "session_id": true, "m.relates_to": true}

// clearRelationFields are what the clear m.relates_to of an encrypted
// event may name (spec: "Relationship types": m.replace, m.thread with its
// reply fallback, and rich replies' m.in_reply_to).
var clearRelationFields = map[string]bool{"rel_type": true, "event_id": true, "is_falling_back": true, "m.in_reply_to": true}

// protocolStateTypes are the only state events a clinical room takes: the
// protocol's own (the spec's m.room.* state, spaces, the room's purpose)
// and the widget and call state Element keeps. Any other state type could
// carry content in the clear.
var protocolStateTypes = map[string]bool{
	"m.room.create": true, "m.room.member": true, "m.room.power_levels": true, "m.room.join_rules": true,
	"m.room.history_visibility": true, "m.room.name": true, "m.room.topic": true, "m.room.avatar": true,
	"m.room.canonical_alias": true, "m.room.encryption": true, "m.room.guest_access": true,
	"m.room.pinned_events": true, "m.room.server_acl": true, "m.room.tombstone": true,
	"m.room.third_party_invite": true, "m.space.child": true, "m.space.parent": true, PurposeEventType: true,
	"im.vector.modular.widgets": true, "io.element.widgets.layout": true, "org.matrix.msc3401.call": true,
	"org.matrix.msc3401.call.member": true, "m.call.member": true, "io.element.functional_members": true,
}

// object decodes a JSON object's top level; nil when raw is not one.
func object(raw []byte) map[string]json.RawMessage {
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) != nil {
		return nil
	}
	return obj
}

// isString reports whether raw is a JSON string.
func isString(raw json.RawMessage) bool {
	var s string
	return raw != nil && json.Unmarshal(raw, &s) == nil
}

// onlyFields reports whether obj is an object whose fields are all in allowed.
func onlyFields(obj map[string]json.RawMessage, allowed map[string]bool) bool {
	if obj == nil {
		return false
	}
	for k := range obj {
		if !allowed[k] {
			return false
		}
	}
	return true
}

// encryptedEnvelope reports whether content is an encrypted event with
// nothing in the clear beside its envelope and relation.
func encryptedEnvelope(content []byte) bool {
	obj := object(content)
	if !onlyFields(obj, encryptedFields) || !isString(obj["algorithm"]) || !isString(obj["ciphertext"]) {
		return false
	}
	rel, ok := obj["m.relates_to"]
	if !ok {
		return true
	}
	r := object(rel)
	if !onlyFields(r, clearRelationFields) {
		return false
	}
	for _, k := range []string{"rel_type", "event_id"} {
		if v, ok := r[k]; ok && !isString(v) {
			return false
		}
	}
	if v, ok := r["is_falling_back"]; ok {
		var b bool
		if json.Unmarshal(v, &b) != nil {
			return false
		}
	}
	if v, ok := r["m.in_reply_to"]; ok {
		reply := object(v)
		if !onlyFields(reply, map[string]bool{"event_id": true}) || !isString(reply["event_id"]) {
			return false
		}
	}
	return true
}

// bareReaction reports whether content is exactly an annotation:
// {"m.relates_to": {"rel_type": "m.annotation", "event_id": …, "key": …}}.
// matrix-js-sdk (and so Element) never encrypts reactions.
func bareReaction(content []byte) bool {
	obj := object(content)
	if !onlyFields(obj, map[string]bool{"m.relates_to": true}) {
		return false
	}
	r := object(obj["m.relates_to"])
	if len(r) != 3 || !onlyFields(r, map[string]bool{"rel_type": true, "event_id": true, "key": true}) {
		return false
	}
	var relType string
	return json.Unmarshal(r["rel_type"], &relType) == nil && relType == "m.annotation" &&
		isString(r["event_id"]) && isString(r["key"])
}

// bareRedaction reports whether a redaction carries nothing but the event
// it redacts (a reason would be plaintext).
func bareRedaction(content []byte) bool {
	obj := object(content)
	if !onlyFields(obj, map[string]bool{"redacts": true}) {
		return false
	}
	v, ok := obj["redacts"]
	return !ok || isString(v)
}

// MaySend decides whether a message event may be sent in a room: in a
// clinical room only an encrypted envelope, a bare reaction or a bare
// redaction (an allow list, so a new or custom event type, or a field
// added beside the ciphertext, cannot carry content in the clear).
// Scheduling rooms take plaintext: bots without E2EE post notices there.
func MaySend(purpose Purpose, evType string, content []byte) Decision {
	if purpose != PurposeClinical {
		return allow("send")
	}
	switch evType {
	case "m.room.encrypted":
		if encryptedEnvelope(content) {
			return allow("send-encrypted")
		}
		return deny("encryption-required", "encryption required: an encrypted event in a clinical room carries only a string algorithm and ciphertext, sender_key, device_id, session_id and m.relates_to")
	case "m.reaction":
		if bareReaction(content) {
			return allow("send-reaction")
		}
		return deny("encryption-required", "encryption required: a reaction in a clinical room is only m.relates_to with rel_type m.annotation, event_id and key")
	case "m.room.redaction":
		if bareRedaction(content) {
			return allow("send-redaction")
		}
		return deny("encryption-required", "encryption required: a redaction in a clinical room carries no reason or other content")
	}
	return deny("encryption-required", "encryption required: this clinical room accepts only encrypted messages")
}

// openJoinRules are the join rules that let people in without an invite
// (knocking asks everyone for a way in).
var openJoinRules = map[string]bool{"public": true, "knock": true, "knock_restricted": true}

// stringField reads a top-level string field of content ("" if none).
func stringField(content []byte, name string) string {
	var v string
	_ = json.Unmarshal(object(content)[name], &v)
	return v
}

// MaySetState decides a state event's type and content in a room: no room
// is world-readable (a clinic has no anonymous readers), a room with a
// patient is never open to join, and a clinical room takes only the
// protocol's own state types.
func MaySetState(purpose Purpose, roomHasPatients bool, evType string, content []byte) Decision {
	if evType == "m.room.history_visibility" && stringField(content, "history_visibility") == "world_readable" {
		return deny("world-readable", "no room is world-readable: a clinic has no anonymous readers")
	}
	if evType == "m.room.join_rules" && roomHasPatients && openJoinRules[stringField(content, "join_rule")] {
		return deny("patient-room-public", "a room with a patient is never public: it may be joined by invite only")
	}
	if purpose == PurposeClinical && !protocolStateTypes[evType] {
		return deny("encryption-required", "encryption required: a clinical room accepts only the protocol's own state events, not %s", evType)
	}
	return allow("state")
}
