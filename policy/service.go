package policy

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"

	"ward/audit"
	"ward/internal/db"
)

// Rooms is what the policy needs from rooms to take people out of rooms
// they may no longer share after a change of facts.
type Rooms interface {
	// SharedRooms lists the rooms user is joined or invited to, with each
	// room's purpose, creator and other joined members and invitees.
	SharedRooms(ctx context.Context, user id.UserID) ([]RoomMembers, error)
	// Leave sends user's leave event; left is false when user was no
	// longer in the room (another removal came first).
	Leave(ctx context.Context, user id.UserID, roomID id.RoomID, reason string) (left bool, err error)
}

// RoomMembers is one room as Rooms.SharedRooms reports it.
type RoomMembers struct {
	RoomID  id.RoomID
	Purpose Purpose
	Creator id.UserID
	Members []id.UserID // joined and invited, the user included
}

// Service answers policy questions from the facts in the database.
type Service struct {
	db  *db.DB
	log *slog.Logger
	now func() time.Time
	// serverName is the domain of local users: the only ones the facts
	// may name, since Ward does not federate.
	serverName string
	// Audit records every denial and admin action; nil: no audit.
	Audit Auditor
}

// New returns the policy service of the server serverName.
func New(d *db.DB, log *slog.Logger, serverName string) *Service {
	return &Service{db: d, log: log, now: time.Now, serverName: serverName}
}

// People loads the facts of the named users in one go. Server admins
// (accounts' is_admin) without a clinic role count as admins.
func (s *Service) People(ctx context.Context, users ...id.UserID) (map[id.UserID]Person, error) {
	out := make(map[id.UserID]Person, len(users))
	if len(users) == 0 {
		return out, nil
	}
	ph := make([]string, len(users))
	args := make([]any, len(users))
	for i, u := range users {
		ph[i] = fmt.Sprintf("$%d", i+1)
		args[i] = string(u)
		out[u] = Person{ID: u, Teams: map[string]bool{}, Providers: map[id.UserID]bool{}}
	}
	in := strings.Join(ph, ",")
	q := s.db.Read
	rows, err := q.QueryContext(ctx, `SELECT user_id, role FROM clinic_roles WHERE user_id IN (`+in+`)`, args...)
	if err != nil {
		return nil, fmt.Errorf("load roles: %w", err)
	}
	for rows.Next() {
		var u, r string
		if err := rows.Scan(&u, &r); err != nil {
			rows.Close()
			return nil, err
		}
		p := out[id.UserID(u)]
		p.Role = Role(r)
		out[id.UserID(u)] = p
	}
	rows.Close()
	rows, err = q.QueryContext(ctx, `SELECT user_id, is_admin FROM users WHERE user_id IN (`+in+`)`, args...)
	if err != nil {
		return nil, fmt.Errorf("load accounts: %w", err)
	}
	for rows.Next() {
		var u string
		var admin bool
		if err := rows.Scan(&u, &admin); err != nil {
			rows.Close()
			return nil, err
		}
		p := out[id.UserID(u)]
		p.Exists = true
		if admin && p.Role == "" {
			p.Role = RoleAdmin
		}
		out[id.UserID(u)] = p
	}
	rows.Close()
	rows, err = q.QueryContext(ctx, `SELECT user_id, team FROM care_team_members WHERE user_id IN (`+in+`)`, args...)
	if err != nil {
		return nil, fmt.Errorf("load teams: %w", err)
	}
	for rows.Next() {
		var u, t string
		if err := rows.Scan(&u, &t); err != nil {
			rows.Close()
			return nil, err
		}
		out[id.UserID(u)].Teams[t] = true
	}
	rows.Close()
	rows, err = q.QueryContext(ctx, `SELECT patient_id, provider_id FROM assignments WHERE patient_id IN (`+in+`)`, args...)
	if err != nil {
		return nil, fmt.Errorf("load assignments: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var pat, prov string
		if err := rows.Scan(&pat, &prov); err != nil {
			return nil, err
		}
		out[id.UserID(pat)].Providers[id.UserID(prov)] = true
	}
	return out, rows.Err()
}

// refuse turns a denial into the client's error, logs it and records it
// with its full reason on the audit trail. It is the one place that decides
// what a refusal tells whom. Clinicians and admins, the clinic's staff,
// read the reason, and a target without an account is a 404 to them. To
// anyone else (patients, office staff, bots, people without a role) a
// reason that speaks of another person would tell that person's role, care
// or membership, which is health information: they read only that they
// cannot reach that person, and a user who does not exist reads the same.
func (s *Service) refuse(ctx context.Context, actor id.UserID, action string, d Decision) error {
	other := d.other(actor)
	staff := true
	if other != "" {
		people, err := s.People(ctx, actor)
		if err != nil {
			return err
		}
		r := people[actor].Role
		staff = r == RoleAdmin || r.Clinician()
	}
	if staff && d.Rule == ruleNoAccount {
		return mautrix.MNotFound.WithMessage("User %s does not exist", other)
	}
	s.log.InfoContext(ctx, "policy denied", "actor", actor, "action", action, "rule", d.Rule, "reason", d.Reason)
	s.auditDenial(ctx, actor, action, d)
	if !staff {
		return mautrix.MForbidden.WithMessage("Refused by clinic policy: you cannot reach %s", other)
	}
	return mautrix.MForbidden.WithMessage("Refused by clinic policy: %s", d.Reason)
}

// missing returns the first of users without an account, "" if none.
func missing(people map[id.UserID]Person, users ...id.UserID) id.UserID {
	for _, u := range users {
		if !people[u].Exists {
			return u
		}
	}
	return ""
}

// noAccount is the denial of bringing in user, who has no account.
func noAccount(user id.UserID) Decision {
	return deny(ruleNoAccount, "%s does not exist", user).about(user)
}

// PurposeOf reads a room's stored purpose for a decision. Anything but
// "scheduling" counts as clinical: a room whose purpose value is missing or
// unknown gets the strictest rules (fail closed).
func PurposeOf(v string) Purpose {
	if Purpose(v) == PurposeScheduling {
		return PurposeScheduling
	}
	return PurposeClinical
}

// ParsePurpose reads a purpose value; "" means clinical.
func ParsePurpose(v string) (Purpose, bool) {
	switch Purpose(v) {
	case "", PurposeClinical:
		return PurposeClinical, true
	case PurposeScheduling:
		return PurposeScheduling, true
	}
	return "", false
}

// CheckCreate decides a createRoom: the creator and every invitee must be
// able to share a room of this purpose.
func (s *Service) CheckCreate(ctx context.Context, creator id.UserID, invitees []id.UserID, purpose string, public bool) error {
	p, ok := ParsePurpose(purpose)
	if !ok {
		return mautrix.MBadJSON.WithMessage("Room purpose must be %q or %q", PurposeClinical, PurposeScheduling)
	}
	people, err := s.People(ctx, append([]id.UserID{creator}, invitees...)...)
	if err != nil {
		return err
	}
	c := people[creator]
	if public && c.Role != RoleAdmin && !c.Role.Clinician() {
		return s.refuse(ctx, creator, "create public room", deny("public-room", "only clinicians and admins may create public rooms"))
	}
	if u := missing(people, invitees...); u != "" {
		return s.refuse(ctx, creator, "create room", noAccount(u))
	}
	inv := make([]Person, 0, len(invitees))
	for _, u := range invitees {
		inv = append(inv, people[u])
	}
	if public && hasPatient(inv) {
		return s.refuse(ctx, creator, "create public room", deny("patient-room-public", "a room with a patient is never public: no public visibility or public_chat preset with a patient invited"))
	}
	if d := MayCreate(c, inv, p); !d.Allow {
		return s.refuse(ctx, creator, "create room", d)
	}
	return nil
}

// CheckJoin decides whether newcomer may be brought into a room (by an
// invite from inviter, or joining it themselves when byInvite is false:
// a public room, open to clinicians and admins only).
//
// joinRule is the room's join rule and published whether it is listed in
// the room directory: a patient is never brought into a room open to
// others.
func (s *Service) CheckJoin(ctx context.Context, newcomer, inviter id.UserID, byInvite bool, purpose string, creator id.UserID, members []id.UserID, joinRule string, published bool) error {
	p := PurposeOf(purpose)
	ids := append([]id.UserID{newcomer, creator}, members...)
	people, err := s.People(ctx, ids...)
	if err != nil {
		return err
	}
	n := people[newcomer]
	if !byInvite && n.Role != RoleAdmin && !n.Role.Clinician() {
		return s.refuse(ctx, newcomer, "join", deny("join-by-invite", "joining without an invite is for clinicians and admins only"))
	}
	if inviter != "" && inviter != newcomer && !n.Exists {
		return s.refuse(ctx, inviter, "invite "+string(newcomer), noAccount(newcomer))
	}
	room := RoomFacts{Purpose: p, CreatedByAdmin: people[creator].Role == RoleAdmin}
	for _, m := range members {
		if m != newcomer {
			room.Members = append(room.Members, people[m])
		}
	}
	d := MayJoin(n, room)
	if d.Allow && n.Role == RolePatient && (openJoinRules[joinRule] || published) {
		open := "its join rule is " + joinRule
		if published {
			open = "it is listed in the room directory"
		}
		d = deny("patient-room-public", "%s is a patient and this room is open to others (%s); a room with a patient is never public", newcomer, open).about(newcomer)
	}
	if !d.Allow {
		action := "join"
		if inviter != "" && inviter != newcomer {
			action = "invite " + string(newcomer)
		}
		actor := inviter
		if actor == "" {
			actor = newcomer
		}
		return s.refuse(ctx, actor, action, d)
	}
	return nil
}

// CheckSend decides whether an event may be sent into a room. Changing
// the room's purpose after creation is for admins only, changing how it is
// joined for clinicians and admins. State content is decided by
// CheckState, which the caller asks as well.
func (s *Service) CheckSend(ctx context.Context, sender id.UserID, purpose string, encrypted bool, evType string, isState bool, content json.RawMessage) error {
	p := PurposeOf(purpose)
	if isState {
		if evType != PurposeEventType && evType != "m.room.join_rules" {
			return nil
		}
		people, err := s.People(ctx, sender)
		if err != nil {
			return err
		}
		role := people[sender].Role
		if evType == PurposeEventType && role != RoleAdmin {
			return s.refuse(ctx, sender, "change room purpose", deny("purpose-admin-only", "only admins may change a room's purpose"))
		}
		if evType == "m.room.join_rules" && role != RoleAdmin && !role.Clinician() {
			return s.refuse(ctx, sender, "change join rules", deny("join-rules", "only clinicians and admins may change how a room is joined"))
		}
		return nil
	}
	if d := MaySend(p, evType, content); !d.Allow {
		return s.refuse(ctx, sender, "send "+evType, d)
	}
	return nil
}

// CheckState decides a state event's type and content in a room of this
// purpose whose members (joined and invited; for a new room, its creator
// and invitees) are members: every state PUT and each entry of
// createRoom's initial_state.
func (s *Service) CheckState(ctx context.Context, sender id.UserID, purpose string, members []id.UserID, evType string, content json.RawMessage) error {
	withPatients := false
	if evType == "m.room.join_rules" {
		people, err := s.People(ctx, members...)
		if err != nil {
			return err
		}
		for _, p := range people {
			withPatients = withPatients || p.Role == RolePatient
		}
	}
	if d := MaySetState(PurposeOf(purpose), withPatients, evType, content); !d.Allow {
		return s.refuse(ctx, sender, "set state "+evType, d)
	}
	return nil
}

// CheckPublish decides whether a user may publish a room, whose joined
// members and invitees are members, in the directory: clinicians and
// admins may, never a room with a patient.
func (s *Service) CheckPublish(ctx context.Context, user id.UserID, members []id.UserID) error {
	people, err := s.People(ctx, append([]id.UserID{user}, members...)...)
	if err != nil {
		return err
	}
	if r := people[user].Role; r != RoleAdmin && !r.Clinician() {
		return s.refuse(ctx, user, "publish room", deny("publish", "only clinicians and admins may publish rooms in the directory"))
	}
	for _, m := range members {
		if people[m].Role == RolePatient {
			return s.refuse(ctx, user, "publish room", deny("patient-room-public", "a room with a patient (%s) is never listed in the directory", m).about(m))
		}
	}
	return nil
}

// MayListPublicRooms reports whether user may use the room directory:
// public rooms are for clinicians and admins, so to anyone else
// /publicRooms is empty, and aliases and directory listings answer only
// for rooms they are in.
func (s *Service) MayListPublicRooms(ctx context.Context, user id.UserID) (bool, error) {
	people, err := s.People(ctx, user)
	if err != nil {
		return false, err
	}
	r := people[user].Role
	return r == RoleAdmin || r.Clinician(), nil
}

// Reachable filters candidates to the people the searcher may reach
// (directory search, profile look-ups).
func (s *Service) Reachable(ctx context.Context, searcher id.UserID, candidates []id.UserID) (map[id.UserID]bool, error) {
	people, err := s.People(ctx, append([]id.UserID{searcher}, candidates...)...)
	if err != nil {
		return nil, err
	}
	me := people[searcher]
	out := make(map[id.UserID]bool, len(candidates))
	for _, c := range candidates {
		if c == searcher || MayReach(me, people[c]).Allow {
			out[c] = true
		}
	}
	return out, nil
}

// CheckReach refuses, as a whole, an action of actor's that reaches
// targets directly, outside any room (to-device messages), when actor may
// not reach one of them: the refusal names the first such target and is
// recorded as a denial. The caller has already taken out the people actor
// shares a room with, who are reachable whatever the facts say.
func (s *Service) CheckReach(ctx context.Context, actor id.UserID, targets []id.UserID, action string) error {
	people, err := s.People(ctx, append([]id.UserID{actor}, targets...)...)
	if err != nil {
		return err
	}
	me := people[actor]
	for _, t := range targets {
		if t == actor {
			continue
		}
		if d := MayReach(me, people[t]); !d.Allow {
			return s.refuse(audit.WithTargetUser(ctx, string(t)), actor, action, d)
		}
	}
	return nil
}

// Recheck re-decides every room user is in after a change of facts. Where
// two members may no longer share the room, the one who lost the right to
// reach the other leaves — the clinician, not the patient, when a patient's
// care changed: a real leave event, sent as that person, with a readable
// reason. History stays.
func (s *Service) Recheck(ctx context.Context, r Rooms, user id.UserID, reason string) error {
	rooms, err := r.SharedRooms(ctx, user)
	if err != nil {
		return err
	}
	for _, rm := range rooms {
		people, err := s.People(ctx, append([]id.UserID{rm.Creator}, rm.Members...)...)
		if err != nil {
			return err
		}
		me := people[user]
		var all []Person
		for _, m := range rm.Members {
			all = append(all, people[m])
		}
		byAdmin := people[rm.Creator].Role == RoleAdmin
		withPatients := hasPatient(all)
		leaving := map[id.UserID]string{}
		for _, other := range all {
			if other.ID == user {
				continue
			}
			d := MayShare(me, other, rm.Purpose, byAdmin, withPatients)
			if d.Allow {
				continue
			}
			who := user
			if me.Role == RolePatient && other.Role != RolePatient {
				who = other.ID
			}
			leaving[who] = d.Reason
		}
		for who, why := range leaving {
			msg := "Removed by clinic policy: " + reason + " (" + why + ")"
			left, err := r.Leave(ctx, who, rm.RoomID, msg)
			if err != nil {
				s.log.WarnContext(ctx, "policy removal failed", "user", who, "room", rm.RoomID, "error", err)
				continue
			}
			if left {
				s.log.InfoContext(ctx, "policy removed user from room", "user", who, "room", rm.RoomID, "rule", why)
			}
		}
	}
	return nil
}

// queueRecheck records users whose rooms the running server must re-check;
// written in the same transaction as the change of facts.
func (s *Service) queueRecheck(ctx context.Context, tx *sql.Tx, reason string, users ...id.UserID) error {
	for _, u := range users {
		if _, err := tx.ExecContext(ctx, `INSERT INTO policy_recheck (user_id, reason, added_ts) VALUES ($1, $2, $3)`,
			string(u), reason, s.now().UnixMilli()); err != nil {
			return err
		}
	}
	return nil
}

// RunRechecks works the recheck queue until ctx ends: every change of facts,
// made by this server or by `ward admin` in another process, leads here, so
// that only the server appends the resulting leave events.
func (s *Service) RunRechecks(ctx context.Context, r Rooms, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := s.DrainRechecks(ctx, r); err != nil && ctx.Err() == nil {
			s.log.ErrorContext(ctx, "policy recheck", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// recheckLock is the PostgreSQL advisory lock that the instance working
// the recheck queue holds (an arbitrary key, Ward's own).
const recheckLock int64 = 0x77617264_72636b // "ward" "rck"

// DrainRechecks handles every queued recheck once. On PostgreSQL, where
// several instances serve one database, one instance at a time works the
// queue: the others skip the round, so that each removal is made, and
// logged, once.
func (s *Service) DrainRechecks(ctx context.Context, r Rooms) error {
	if s.db.Dialect == db.Postgres {
		// A transaction-scoped lock goes with its transaction, even when
		// the connection is lost; the transaction writes nothing (the
		// queue rows are deleted through Tx, in transactions of their own).
		claim, err := s.db.Read.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer claim.Rollback() //nolint:errcheck // releases the lock
		var mine bool
		if err := claim.QueryRowContext(ctx, `SELECT pg_try_advisory_xact_lock($1)`, recheckLock).Scan(&mine); err != nil {
			return err
		}
		if !mine {
			return nil // another instance is working the queue
		}
	}
	rows, err := s.db.Read.QueryContext(ctx, `SELECT id, user_id, reason FROM policy_recheck ORDER BY id LIMIT 100`)
	if err != nil {
		return err
	}
	type item struct {
		id     int64
		user   id.UserID
		reason string
	}
	var items []item
	for rows.Next() {
		var it item
		if err := rows.Scan(&it.id, &it.user, &it.reason); err != nil {
			rows.Close()
			return err
		}
		items = append(items, it)
	}
	rows.Close()
	for _, it := range items {
		if err := s.Recheck(ctx, r, it.user, it.reason); err != nil {
			return err
		}
		if err := s.db.Tx(ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `DELETE FROM policy_recheck WHERE id = $1`, it.id)
			return err
		}); err != nil {
			return err
		}
	}
	return nil
}

// ReachableUsers lists every person with a role whom the searcher may
// reach (the user directory under the policy).
func (s *Service) ReachableUsers(ctx context.Context, searcher id.UserID) (map[id.UserID]bool, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT user_id FROM clinic_roles UNION SELECT user_id FROM users WHERE is_admin = $1`, true)
	if err != nil {
		return nil, err
	}
	var all []id.UserID
	for rows.Next() {
		var u string
		if err := rows.Scan(&u); err != nil {
			rows.Close()
			return nil, err
		}
		all = append(all, id.UserID(u))
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return s.Reachable(ctx, searcher, all)
}
