package rooms

import (
	"context"
	"sort"

	"github.com/tidwall/gjson"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"

	"ward/internal/db"
	"ward/internal/stream"
)

// viewer holds what decides which of a room's events one user may read:
// the user's membership history and the room's history_visibility history
// (spec: client-server-api "History visibility").
type viewer struct {
	user        id.UserID
	memberships []posValue // ascending
	visibility  []posValue // ascending
}

type posValue struct {
	pos   stream.Position
	value string
}

// loadViewer reads the user's membership log and the room's
// history_visibility changes.
func loadViewer(ctx context.Context, q db.Querier, roomID id.RoomID, user id.UserID) (*viewer, error) {
	v := &viewer{user: user}
	rows, err := q.QueryContext(ctx, `SELECT stream_pos, membership FROM membership_log WHERE room_id = $1 AND user_id = $2
		ORDER BY stream_pos`, string(roomID), string(user))
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var pv posValue
		if err := rows.Scan(&pv.pos, &pv.value); err != nil {
			rows.Close()
			return nil, err
		}
		v.memberships = append(v.memberships, pv)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	evs, err := queryEvents(ctx, q, `SELECT `+eventColumns+` FROM events WHERE room_id = $1 AND type = 'm.room.history_visibility'
		AND state_key = '' ORDER BY stream_pos`, string(roomID))
	if err != nil {
		return nil, err
	}
	for _, e := range evs {
		v.visibility = append(v.visibility, posValue{pos: e.Pos, value: gjson.GetBytes(e.PDU.Content, "history_visibility").Str})
	}
	return v, nil
}

// before returns the value in effect just before pos (def when none).
func before(list []posValue, pos stream.Position, def string) string {
	i := sort.Search(len(list), func(i int) bool { return list[i].pos >= pos })
	if i == 0 {
		return def
	}
	return list[i-1].value
}

// current is the user's membership now.
func (v *viewer) current() string {
	if len(v.memberships) == 0 {
		return "leave"
	}
	return v.memberships[len(v.memberships)-1].value
}

// everMember reports whether the user ever had any membership in the room.
func (v *viewer) everMember() bool { return len(v.memberships) > 0 }

// canSee applies the spec's history visibility rules to one event
// (spec: client-server-api "History visibility", the server algorithm).
func (v *viewer) canSee(e *Event) bool {
	hv := before(v.visibility, e.Pos, "shared")
	switch hv {
	case "world_readable":
		return true
	case "shared", "invited", "joined":
	default:
		// An unknown value: a clinic errs on the side of showing less.
		hv = "joined"
	}
	if e.Type == "m.room.member" && e.StateKey != nil && *e.StateKey == string(v.user) {
		// One's own membership events — the invite, the join, the leave,
		// the kick or ban — are always visible to oneself: a client learns
		// from them that it left (spec: /sync rooms.leave timeline).
		return true
	}
	membership := before(v.memberships, e.Pos, "leave")
	switch {
	case membership == "join":
		return true
	case hv == "invited":
		// Under "shared" an invitee reads nothing until they join (rule 3
		// then opens the earlier history); only "invited" opens it at the invite.
		if membership == "invite" {
			return true
		}
	}
	if hv == "shared" {
		// "the user joined the room at any point after the event was sent"
		for _, m := range v.memberships {
			if m.pos > e.Pos && m.value == "join" {
				return true
			}
		}
	}
	return false
}

func (v *viewer) filter(evs []*Event) []*Event {
	out := evs[:0:0]
	for _, e := range evs {
		if v.canSee(e) {
			out = append(out, e)
		}
	}
	return out
}

// errNotInRoom hides rooms the user has no business with.
var errNotInRoom = mautrix.MForbidden.WithMessage("You are not allowed to view this room")

// roomViewer loads the viewer and refuses users who were never in the room
// of a room that is not world readable.
func (s *Service) roomViewer(ctx context.Context, roomID id.RoomID, user id.UserID) (*viewer, error) {
	v, err := s.loadViewer(ctx, roomID, user)
	if err != nil {
		return nil, err
	}
	if !v.everMember() {
		if len(v.visibility) == 0 || v.visibility[len(v.visibility)-1].value != "world_readable" {
			return nil, errNotInRoom
		}
	}
	return v, nil
}

// loadViewer is loadViewer on the service's database. Under the clinic
// policy no room is world-readable (a clinic has no anonymous readers):
// a world_readable setting, which the policy refuses but a room may hold
// from before, reads as shared.
func (s *Service) loadViewer(ctx context.Context, roomID id.RoomID, user id.UserID) (*viewer, error) {
	v, err := loadViewer(ctx, s.db.Read, roomID, user)
	if err != nil || s.gate == nil {
		return v, err
	}
	for i := range v.visibility {
		if v.visibility[i].value == "world_readable" {
			v.visibility[i].value = "shared"
		}
	}
	return v, nil
}
