package rooms

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"ward/internal/db"
	"ward/internal/stream"
)

// Membership is a user's current membership of a room.
type Membership struct {
	RoomID     id.RoomID
	Membership string
	EventID    id.EventID
	Pos        int64
}

// ResolveRoom turns a room ID or alias into a room ID.
func (s *Service) ResolveRoom(ctx context.Context, idOrAlias string) (id.RoomID, error) {
	if strings.HasPrefix(idOrAlias, "#") {
		rid, err := s.LookupAlias(ctx, id.RoomAlias(idOrAlias))
		if err != nil {
			return "", err
		}
		return rid, nil
	}
	if !strings.HasPrefix(idOrAlias, "!") {
		return "", mautrix.MInvalidParam.WithMessage("%q is neither a room ID nor an alias", idOrAlias)
	}
	return id.RoomID(idOrAlias), nil
}

// changeMembership appends a member event for target sent by sender.
func (s *Service) changeMembership(ctx context.Context, sender, target id.UserID, roomID id.RoomID, membership, reason string, extra map[string]any) (*Event, error) {
	// The policy decides before the target's profile is read: a target
	// without an account is the policy's to answer (see checkInviteeExists).
	if err := s.checkMembership(ctx, sender, target, roomID, membership); err != nil {
		return nil, err
	}
	content, err := s.memberContent(ctx, target, membership, reason)
	if err != nil {
		return nil, err
	}
	for k, v := range extra {
		content[k] = v
	}
	var ev *Event
	err = s.commitAndWake(ctx, func(tx *sql.Tx, wake *wakeList) error {
		r, err := s.lockRoom(ctx, tx, roomID)
		if errors.Is(err, errNoRoom) && membership != "join" {
			return errNotMember
		} else if err != nil {
			return err
		}
		if membership == "join" && sender == target {
			// Joining a room one is already in changes nothing
			// (spec: POST /join is idempotent for joined members).
			cur, err := currentStateEvent(ctx, tx, roomID, event.StateMember.Type, string(target))
			if err != nil {
				return err
			}
			if cur != nil && cur.Membership == "join" {
				ev = cur
				return nil
			}
		}
		ev, err = s.appendEvent(ctx, tx, r, proto{Type: event.StateMember.Type, StateKey: strptr(string(target)),
			Sender: sender, Content: mustJSON(content)})
		if err != nil {
			return err
		}
		wake.roomRow(r)
		wake.user(string(target))
		return nil
	})
	return ev, err
}

// errNotMember is the refusal of an action on a room by someone not joined
// to it: the same whether the room exists or not, and whoever the target.
var errNotMember = mautrix.MForbidden.WithMessage("You are not a member of this room")

// requireJoined refuses an action on a room's members (invite, kick, ban,
// unban, a member event for someone else, a state change the policy weighs
// against the members, a directory listing) by someone not joined to it.
// It comes before the policy and before any look at the target's
// membership, whose answers would tell an outsider who is in the room.
func (s *Service) requireJoined(ctx context.Context, sender id.UserID, roomID id.RoomID) error {
	cur, err := currentStateEvent(ctx, s.db.Read, roomID, event.StateMember.Type, string(sender))
	if err != nil {
		return err
	}
	if cur == nil || cur.Membership != "join" {
		return errNotMember
	}
	return nil
}

// Join joins user to a room by ID or alias (spec: POST /join/{roomIdOrAlias}).
func (s *Service) Join(ctx context.Context, user id.UserID, idOrAlias, reason string) (id.RoomID, error) {
	roomID, err := s.ResolveRoom(ctx, idOrAlias)
	if err != nil {
		return "", err
	}
	_, err = s.changeMembership(ctx, user, user, roomID, "join", reason, nil)
	if errors.Is(err, errNoRoom) {
		return "", mautrix.MNotFound.WithMessage("No known room %s", idOrAlias)
	}
	return roomID, err
}

// Invite invites target (spec: POST /rooms/{roomId}/invite).
func (s *Service) Invite(ctx context.Context, sender, target id.UserID, roomID id.RoomID, reason string) error {
	if err := s.requireJoined(ctx, sender, roomID); err != nil {
		return err
	}
	if target.Homeserver() != s.serverName {
		return mautrix.MForbidden.WithMessage("Only local users can be invited (this server does not federate)")
	}
	if err := s.checkInviteeExists(ctx, target); err != nil {
		return err
	}
	cur, err := currentStateEvent(ctx, s.db.Read, roomID, event.StateMember.Type, string(target))
	if err != nil {
		return err
	}
	if cur != nil && cur.Membership == "invite" {
		// Already invited: nothing to do (Synapse does the same).
		return nil
	}
	_, err = s.changeMembership(ctx, sender, target, roomID, "invite", reason, nil)
	return err
}

// Leave leaves (or rejects an invite to) a room (spec: POST /rooms/{roomId}/leave).
func (s *Service) Leave(ctx context.Context, user id.UserID, roomID id.RoomID, reason string) error {
	_, err := s.LeaveIfIn(ctx, user, roomID, reason)
	return err
}

// LeaveIfIn is Leave that also says whether it sent a leave event: false
// when user had left (or was banned) already, so that a caller reports
// only a removal it made.
func (s *Service) LeaveIfIn(ctx context.Context, user id.UserID, roomID id.RoomID, reason string) (left bool, err error) {
	cur, err := currentStateEvent(ctx, s.db.Read, roomID, event.StateMember.Type, string(user))
	if err != nil {
		return false, err
	}
	if cur != nil && (cur.Membership == "leave" || cur.Membership == "ban") {
		return false, nil
	}
	if _, err := s.changeMembership(ctx, user, user, roomID, "leave", reason, nil); err != nil {
		return false, err
	}
	return true, nil
}

// Kick removes target (spec: POST /rooms/{roomId}/kick).
func (s *Service) Kick(ctx context.Context, sender, target id.UserID, roomID id.RoomID, reason string) error {
	if err := s.requireJoined(ctx, sender, roomID); err != nil {
		return err
	}
	cur, err := currentStateEvent(ctx, s.db.Read, roomID, event.StateMember.Type, string(target))
	if err != nil {
		return err
	}
	if cur == nil || (cur.Membership != "join" && cur.Membership != "invite" && cur.Membership != "knock") {
		return mautrix.MForbidden.WithMessage("%s is not in the room", target)
	}
	_, err = s.changeMembership(ctx, sender, target, roomID, "leave", reason, nil)
	return err
}

// Ban bans target (spec: POST /rooms/{roomId}/ban).
func (s *Service) Ban(ctx context.Context, sender, target id.UserID, roomID id.RoomID, reason string) error {
	if err := s.requireJoined(ctx, sender, roomID); err != nil {
		return err
	}
	_, err := s.changeMembership(ctx, sender, target, roomID, "ban", reason, nil)
	return err
}

// Unban lifts a ban (spec: POST /rooms/{roomId}/unban).
func (s *Service) Unban(ctx context.Context, sender, target id.UserID, roomID id.RoomID, reason string) error {
	if err := s.requireJoined(ctx, sender, roomID); err != nil {
		return err
	}
	cur, err := currentStateEvent(ctx, s.db.Read, roomID, event.StateMember.Type, string(target))
	if err != nil {
		return err
	}
	if cur == nil || cur.Membership != "ban" {
		return mautrix.MForbidden.WithMessage("%s is not banned", target)
	}
	_, err = s.changeMembership(ctx, sender, target, roomID, "leave", reason, nil)
	return err
}

// Forget hides a left room from the user (spec: POST /rooms/{roomId}/forget).
func (s *Service) Forget(ctx context.Context, user id.UserID, roomID id.RoomID) error {
	cur, err := currentStateEvent(ctx, s.db.Read, roomID, event.StateMember.Type, string(user))
	if err != nil {
		return err
	}
	if cur == nil {
		return mautrix.MNotFound.WithMessage("You have never been in this room")
	}
	if cur.Membership == "join" || cur.Membership == "invite" {
		return mautrix.MUnknown.WithStatus(400).WithMessage("Leave the room before forgetting it")
	}
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO forgotten_rooms (user_id, room_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`,
			string(user), string(roomID))
		return err
	})
}

// RoomsOf lists the user's current memberships (join, invite, leave, ban).
func (s *Service) RoomsOf(ctx context.Context, user id.UserID) ([]Membership, error) {
	return roomsOf(ctx, s.db.Read, user)
}

func roomsOf(ctx context.Context, q db.Querier, user id.UserID) ([]Membership, error) {
	rows, err := q.QueryContext(ctx, `SELECT room_id, membership, event_id, stream_pos FROM current_state
		WHERE type = 'm.room.member' AND state_key = $1`, string(user))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Membership
	for rows.Next() {
		var m Membership
		if err := rows.Scan(&m.RoomID, &m.Membership, &m.EventID, &m.Pos); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// RoomsAt lists the user's memberships as they stood at stream position
// upto. A membership that changed after upto is taken from the membership
// log as it was then, and a room the user had no membership of then is left
// out: /sync reads everything else up to upto, and a leave committed just
// after that bound must not hide the room's events before it (they would
// be skipped for good, as the next sync starts at upto).
func (s *Service) RoomsAt(ctx context.Context, user id.UserID, upto stream.Position) ([]Membership, error) {
	all, err := s.RoomsOf(ctx, user)
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for _, m := range all {
		if m.Pos <= int64(upto) {
			out = append(out, m)
			continue
		}
		then := Membership{RoomID: m.RoomID}
		err := s.db.Read.QueryRowContext(ctx, `SELECT membership, event_id, stream_pos FROM membership_log
			WHERE room_id = $1 AND user_id = $2 AND stream_pos <= $3 ORDER BY stream_pos DESC LIMIT 1`,
			string(m.RoomID), string(user), int64(upto)).Scan(&then.Membership, &then.EventID, &then.Pos)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("membership at %d: %w", upto, err)
		}
		out = append(out, then)
	}
	return out, nil
}

// JoinedRooms lists the rooms the user is joined to.
func (s *Service) JoinedRooms(ctx context.Context, user id.UserID) ([]id.RoomID, error) {
	return s.JoinedRoomsIn(ctx, s.db.Read, user)
}

// JoinedRoomsIn is JoinedRooms read through q: inside a write transaction,
// it sees the memberships that transaction has written.
func (s *Service) JoinedRoomsIn(ctx context.Context, q db.Querier, user id.UserID) ([]id.RoomID, error) {
	all, err := roomsOf(ctx, q, user)
	if err != nil {
		return nil, err
	}
	out := []id.RoomID{}
	for _, m := range all {
		if m.Membership == "join" {
			out = append(out, m.RoomID)
		}
	}
	return out, nil
}

// CurrentMembership is the user's current membership in the room ("join",
// "invite", "leave", "ban", "knock"), or "" if they never had one.
func (s *Service) CurrentMembership(ctx context.Context, user id.UserID, roomID id.RoomID) (string, error) {
	var m string
	err := s.db.Read.QueryRowContext(ctx, `SELECT membership FROM current_state
		WHERE room_id = $1 AND type = 'm.room.member' AND state_key = $2`, string(roomID), string(user)).Scan(&m)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return m, err
}

// IsForgotten reports whether the user forgot the room.
func (s *Service) IsForgotten(ctx context.Context, user id.UserID, roomID id.RoomID) (bool, error) {
	var n int
	err := s.db.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM forgotten_rooms WHERE user_id = $1 AND room_id = $2`,
		string(user), string(roomID)).Scan(&n)
	return n > 0, err
}

// MembershipChange is a change of a user's membership in a stream range.
type MembershipChange struct {
	RoomID     id.RoomID
	Membership string
	Pos        int64
	EventID    id.EventID
}

// MembershipChanges returns, per room, the user's latest membership change
// with since < pos <= upto.
func (s *Service) MembershipChanges(ctx context.Context, user id.UserID, since, upto int64) ([]MembershipChange, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT room_id, membership, stream_pos, event_id FROM membership_log
		WHERE user_id = $1 AND stream_pos > $2 AND stream_pos <= $3 ORDER BY stream_pos`, string(user), since, upto)
	if err != nil {
		return nil, fmt.Errorf("membership changes: %w", err)
	}
	defer rows.Close()
	latest := map[id.RoomID]int{}
	var out []MembershipChange
	for rows.Next() {
		var c MembershipChange
		if err := rows.Scan(&c.RoomID, &c.Membership, &c.Pos, &c.EventID); err != nil {
			return nil, err
		}
		if i, ok := latest[c.RoomID]; ok {
			out[i] = c
		} else {
			latest[c.RoomID] = len(out)
			out = append(out, c)
		}
	}
	return out, rows.Err()
}

// MembershipAt is the user's membership in the room just after pos.
func (s *Service) MembershipAt(ctx context.Context, user id.UserID, roomID id.RoomID, pos stream.Position) (string, error) {
	var m string
	err := s.db.Read.QueryRowContext(ctx, `SELECT membership FROM membership_log WHERE room_id = $1 AND user_id = $2
		AND stream_pos <= $3 ORDER BY stream_pos DESC LIMIT 1`, string(roomID), string(user), int64(pos)).Scan(&m)
	if errors.Is(err, sql.ErrNoRows) {
		return "leave", nil
	}
	return m, err
}

// UpdateProfile sends a new join event carrying the user's current display
// name and avatar into every room they are joined to, as clients expect
// after a profile change (spec: PUT /profile/{userId}/displayname: "the
// server SHOULD update the user's membership events").
func (s *Service) UpdateProfile(ctx context.Context, user id.UserID) {
	joined, err := s.JoinedRooms(ctx, user)
	if err != nil {
		s.log.ErrorContext(ctx, "profile update: list rooms", "user", user, "error", err)
		return
	}
	for _, roomID := range joined {
		content, err := s.memberContent(ctx, user, "join", "")
		if err != nil {
			s.log.ErrorContext(ctx, "profile update: read profile", "user", user, "error", err)
			return
		}
		if _, err := s.appendWithTxn(ctx, user, "", roomID, proto{Type: event.StateMember.Type,
			StateKey: strptr(string(user)), Sender: user, Content: mustJSON(content)}, nil); err != nil {
			s.log.WarnContext(ctx, "profile update: member event", "user", user, "room", roomID, "error", err)
		}
	}
}

// LeaveAll takes a deactivated user out of every room they are joined or
// invited to (spec: POST /account/deactivate: the server "SHOULD" make the
// user leave their rooms). History stays.
func (s *Service) LeaveAll(ctx context.Context, user id.UserID) {
	all, err := s.RoomsOf(ctx, user)
	if err != nil {
		s.log.ErrorContext(ctx, "deactivate: list rooms", "user", user, "error", err)
		return
	}
	for _, m := range all {
		if m.Membership != "join" && m.Membership != "invite" && m.Membership != "knock" {
			continue
		}
		if err := s.Leave(ctx, user, m.RoomID, "account deactivated"); err != nil {
			s.log.WarnContext(ctx, "deactivate: leave room", "user", user, "room", m.RoomID, "error", err)
		}
	}
}
