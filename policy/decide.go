package policy

import (
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
}

func allow(rule string) Decision { return Decision{Allow: true, Rule: rule} }

func deny(rule, format string, args ...any) Decision {
	return Decision{Rule: rule, Reason: fmt.Sprintf(format, args...)}
}

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
		return deny("no-role", "%s has no clinic role yet; an admin must assign one", newcomer.ID)
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
		return deny("no-role", "%s has no clinic role yet; an admin must assign one", creator.ID)
	}
	if purpose != PurposeClinical && purpose != PurposeScheduling {
		return deny("purpose", "unknown room purpose %q", purpose)
	}
	room := RoomFacts{Purpose: purpose, CreatedByAdmin: creator.Role == RoleAdmin, Members: []Person{creator}}
	all := append([]Person{creator}, invitees...)
	withPatients := hasPatient(all)
	for i, a := range all {
		if a.Role == "" {
			return deny("no-role", "%s has no clinic role yet; an admin must assign one", a.ID)
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
		return deny("no-role", "%s has no clinic role yet", a.ID)
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

// clearTypes are the only message (non-state) events a clinical room takes
// in the clear: the encrypted envelope itself; redactions, which carry no
// content; and reactions, which matrix-js-sdk (and so Element) never
// encrypts — their key is a short annotation, kept by the server as sent.
var clearTypes = map[string]bool{"m.room.encrypted": true, "m.room.redaction": true, "m.reaction": true}

// MaySend decides whether an event may be sent in a room: in a clinical
// room every message event must be encrypted (an allow list, so a new or
// custom event type cannot carry content in the clear).
func MaySend(sender Person, purpose Purpose, encrypted bool, evType string, isState bool) Decision {
	if purpose == PurposeClinical && !isState && !clearTypes[evType] {
		return deny("encryption-required", "encryption required: this clinical room accepts only encrypted messages")
	}
	return allow("send")
}
