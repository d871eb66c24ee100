package rooms

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/tidwall/gjson"
	"maunium.net/go/mautrix/id"
)

// What server admins read of rooms, for the Synapse-compatible admin API:
// a room's summary from its current state, its members and its state
// events. None of it is message content.

// AdminRoom summarises a room for an admin.
type AdminRoom struct {
	RoomID             id.RoomID
	Name               string
	CanonicalAlias     string
	Avatar             string
	Topic              string
	JoinedMembers      int
	JoinedLocalMembers int
	Version            string
	Creator            id.UserID
	// Encryption is the m.room.encryption algorithm ("" when none).
	Encryption        string
	Federatable       bool
	Public            bool
	JoinRules         string
	GuestAccess       string
	HistoryVisibility string
	StateEvents       int
	RoomType          string
}

// AdminRooms summarises every room, in no particular order.
func (s *Service) AdminRooms(ctx context.Context) ([]AdminRoom, error) {
	return s.adminRooms(ctx, "")
}

// AdminRoom summarises one room; M_NOT_FOUND when there is none.
func (s *Service) AdminRoom(ctx context.Context, roomID id.RoomID) (AdminRoom, error) {
	list, err := s.adminRooms(ctx, roomID)
	if err != nil {
		return AdminRoom{}, err
	}
	if len(list) == 0 {
		return AdminRoom{}, errNoRoom
	}
	return list[0], nil
}

// adminRooms summarises one room, or all when roomID is "", in four
// queries whatever the number of rooms.
func (s *Service) adminRooms(ctx context.Context, roomID id.RoomID) ([]AdminRoom, error) {
	cond, args := "", []any{}
	if roomID != "" {
		cond, args = " WHERE room_id = $1", []any{string(roomID)}
	}
	rows, err := s.db.Read.QueryContext(ctx, `SELECT room_id, room_version, creator, is_public FROM rooms`+cond+` ORDER BY room_id`, args...)
	if err != nil {
		return nil, fmt.Errorf("admin rooms: %w", err)
	}
	var out []AdminRoom
	index := map[id.RoomID]int{}
	for rows.Next() {
		r := AdminRoom{Federatable: true}
		if err := rows.Scan(&r.RoomID, &r.Version, &r.Creator, &r.Public); err != nil {
			rows.Close()
			return nil, fmt.Errorf("admin rooms: %w", err)
		}
		index[r.RoomID] = len(out)
		out = append(out, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(out) == 0 {
		return out, err
	}
	csCond := ""
	if roomID != "" {
		csCond = " AND cs.room_id = $1"
	}
	// The summary's state events, their content read from the stored PDU.
	rows, err = s.db.Read.QueryContext(ctx, `SELECT cs.room_id, cs.type, e.pdu FROM current_state cs
		JOIN events e ON e.event_id = cs.event_id
		WHERE cs.state_key = '' AND cs.type IN ('m.room.create', 'm.room.name', 'm.room.topic', 'm.room.canonical_alias',
			'm.room.avatar', 'm.room.encryption', 'm.room.join_rules', 'm.room.guest_access', 'm.room.history_visibility')`+csCond, args...)
	if err != nil {
		return nil, fmt.Errorf("admin rooms state: %w", err)
	}
	for rows.Next() {
		var rid id.RoomID
		var typ, raw string
		if err := rows.Scan(&rid, &typ, &raw); err != nil {
			rows.Close()
			return nil, fmt.Errorf("admin rooms state: %w", err)
		}
		i, ok := index[rid]
		if !ok {
			continue
		}
		r := &out[i]
		c := gjson.Get(raw, "content")
		switch typ {
		case "m.room.create":
			if f := c.Get(`m\.federate`); f.Exists() {
				r.Federatable = f.Bool()
			}
			r.RoomType = c.Get("type").Str
		case "m.room.name":
			r.Name = c.Get("name").Str
		case "m.room.topic":
			r.Topic = c.Get("topic").Str
		case "m.room.canonical_alias":
			r.CanonicalAlias = c.Get("alias").Str
		case "m.room.avatar":
			r.Avatar = c.Get("url").Str
		case "m.room.encryption":
			r.Encryption = c.Get("algorithm").Str
		case "m.room.join_rules":
			r.JoinRules = c.Get("join_rule").Str
		case "m.room.guest_access":
			r.GuestAccess = c.Get("guest_access").Str
		case "m.room.history_visibility":
			r.HistoryVisibility = c.Get("history_visibility").Str
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// Counts: state events, and joined members (local ones by their server).
	rows, err = s.db.Read.QueryContext(ctx, `SELECT cs.room_id, cs.type, cs.state_key, cs.membership FROM current_state cs
		WHERE 1 = 1`+csCond, args...)
	if err != nil {
		return nil, fmt.Errorf("admin rooms counts: %w", err)
	}
	defer rows.Close()
	suffix := ":" + s.serverName
	for rows.Next() {
		var rid id.RoomID
		var typ, sk string
		var membership sql.NullString
		if err := rows.Scan(&rid, &typ, &sk, &membership); err != nil {
			return nil, fmt.Errorf("admin rooms counts: %w", err)
		}
		i, ok := index[rid]
		if !ok {
			continue
		}
		out[i].StateEvents++
		if typ == "m.room.member" && membership.String == "join" {
			out[i].JoinedMembers++
			if strings.HasSuffix(sk, suffix) {
				out[i].JoinedLocalMembers++
			}
		}
	}
	return out, rows.Err()
}

// AdminMembers lists a room's joined members; M_NOT_FOUND when there is no
// such room.
func (s *Service) AdminMembers(ctx context.Context, roomID id.RoomID) ([]id.UserID, error) {
	if err := s.roomExists(ctx, roomID); err != nil {
		return nil, err
	}
	rows, err := s.db.Read.QueryContext(ctx, `SELECT state_key FROM current_state WHERE room_id = $1 AND type = 'm.room.member'
		AND membership = 'join' ORDER BY state_key`, string(roomID))
	if err != nil {
		return nil, fmt.Errorf("admin members: %w", err)
	}
	defer rows.Close()
	out := []id.UserID{}
	for rows.Next() {
		var u string
		if err := rows.Scan(&u); err != nil {
			return nil, err
		}
		out = append(out, id.UserID(u))
	}
	return out, rows.Err()
}

// AdminState returns a room's current state events, whoever asks (state
// never holds message content); M_NOT_FOUND when there is no such room.
func (s *Service) AdminState(ctx context.Context, roomID id.RoomID) ([]*Event, error) {
	if err := s.roomExists(ctx, roomID); err != nil {
		return nil, err
	}
	return queryEvents(ctx, s.db.Read, `SELECT `+eventColumns+` FROM events WHERE event_id IN
		(SELECT event_id FROM current_state WHERE room_id = $1) ORDER BY stream_pos`, string(roomID))
}

func (s *Service) roomExists(ctx context.Context, roomID id.RoomID) error {
	var n int
	err := s.db.Read.QueryRowContext(ctx, `SELECT 1 FROM rooms WHERE room_id = $1`, string(roomID)).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return errNoRoom
	}
	if err != nil {
		return fmt.Errorf("look up room: %w", err)
	}
	return nil
}
