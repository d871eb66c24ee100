package rooms

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/tidwall/gjson"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"ward/audit"
	"ward/internal/stream"
)

// LatestPosition is the newest committed stream position: where a backwards
// /messages without a from token starts.
func (s *Service) LatestPosition(ctx context.Context) (stream.Position, error) {
	return stream.Current(ctx, s.db.Read)
}

// Published reports whether a room is listed in the public room directory
// (spec: GET /directory/list/room/{roomId}).
func (s *Service) Published(ctx context.Context, roomID id.RoomID) (bool, error) {
	var public bool
	err := s.db.Read.QueryRowContext(ctx, `SELECT is_public FROM rooms WHERE room_id = $1`, string(roomID)).Scan(&public)
	if errors.Is(err, sql.ErrNoRows) {
		return false, errNoRoom
	}
	return public, err
}

// SetPublished lists or unlists a room in the public room directory
// (spec: PUT /directory/list/room/{roomId}). Its creator, or a joined
// member with the power to set m.room.canonical_alias, may do so.
func (s *Service) SetPublished(ctx context.Context, user id.UserID, roomID id.RoomID, public bool) error {
	if public && s.gate != nil {
		ctx = audit.WithRoom(ctx, string(roomID))
		f, err := s.facts(ctx, s.db.Read, roomID)
		if errors.Is(err, sql.ErrNoRows) {
			return errNoRoom
		} else if err != nil {
			return err
		}
		if err := s.requireJoined(ctx, user, roomID); err != nil {
			return err
		}
		if err := s.gate.CheckPublish(ctx, user, f.Members); err != nil {
			return err
		}
	}
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		r, err := s.lockRoom(ctx, tx, roomID)
		if err != nil {
			return err
		}
		cur, err := currentStateEvent(ctx, tx, roomID, event.StateMember.Type, string(user))
		if err != nil {
			return err
		}
		if cur == nil || cur.Membership != "join" {
			return errNotInRoom
		}
		if r.Creator != user {
			pl, err := s.powerLevels(ctx, tx, r)
			if err != nil {
				return err
			}
			if pl.GetUserLevel(user) < pl.GetEventLevel(event.StateCanonicalAlias) {
				return mautrix.MForbidden.WithMessage("You may not change this room's directory listing")
			}
		}
		_, err = tx.ExecContext(ctx, `UPDATE rooms SET is_public = $1 WHERE room_id = $2`, public, string(roomID))
		return err
	})
}

// PublicRoom is one entry of the public room directory
// (spec: client-server-api "GET /publicRooms", PublishedRoomsChunk).
type PublicRoom struct {
	RoomID           id.RoomID `json:"room_id"`
	Name             string    `json:"name,omitempty"`
	Topic            string    `json:"topic,omitempty"`
	CanonicalAlias   string    `json:"canonical_alias,omitempty"`
	AvatarURL        string    `json:"avatar_url,omitempty"`
	JoinRule         string    `json:"join_rule,omitempty"`
	RoomType         string    `json:"room_type,omitempty"`
	NumJoinedMembers int       `json:"num_joined_members"`
	WorldReadable    bool      `json:"world_readable"`
	GuestCanJoin     bool      `json:"guest_can_join"`
}

// matches reports whether the room's name, topic or alias contains term.
func (p *PublicRoom) matches(term string) bool {
	if term == "" {
		return true
	}
	term = strings.ToLower(term)
	for _, f := range []string{p.Name, p.Topic, p.CanonicalAlias} {
		if strings.Contains(strings.ToLower(f), term) {
			return true
		}
	}
	return false
}

// PublicRooms lists the published rooms, most members first, skipping
// offset and returning at most limit (0: all), filtered by a
// case-insensitive search term; total counts every match.
func (s *Service) PublicRooms(ctx context.Context, offset, limit int, search string) (page []PublicRoom, total int, err error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT room_id FROM rooms WHERE is_public = $1`, true)
	if err != nil {
		return nil, 0, fmt.Errorf("public rooms: %w", err)
	}
	var ids []id.RoomID
	for rows.Next() {
		var rid id.RoomID
		if err := rows.Scan(&rid); err != nil {
			rows.Close()
			return nil, 0, err
		}
		ids = append(ids, rid)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	all := []PublicRoom{}
	for _, rid := range ids {
		p, err := s.publicRoom(ctx, rid)
		if err != nil {
			return nil, 0, err
		}
		if p.matches(search) {
			all = append(all, p)
		}
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].NumJoinedMembers != all[j].NumJoinedMembers {
			return all[i].NumJoinedMembers > all[j].NumJoinedMembers
		}
		return all[i].RoomID < all[j].RoomID
	})
	total = len(all)
	if offset > total {
		offset = total
	}
	all = all[offset:]
	if limit > 0 && len(all) > limit {
		all = all[:limit]
	}
	return all, total, nil
}

// publicRoom summarises one room from its current state.
func (s *Service) publicRoom(ctx context.Context, roomID id.RoomID) (PublicRoom, error) {
	p := PublicRoom{RoomID: roomID}
	evs, err := queryEvents(ctx, s.db.Read, `SELECT `+eventColumns+` FROM events WHERE event_id IN
		(SELECT event_id FROM current_state WHERE room_id = $1 AND state_key = '' AND type IN
			('m.room.create', 'm.room.name', 'm.room.topic', 'm.room.canonical_alias', 'm.room.avatar',
			 'm.room.join_rules', 'm.room.history_visibility'))`, string(roomID))
	if err != nil {
		return p, fmt.Errorf("public room state: %w", err)
	}
	for _, e := range evs {
		c := gjson.ParseBytes(e.PDU.Content)
		switch e.Type {
		case event.StateCreate.Type:
			p.RoomType = c.Get("type").Str
		case event.StateRoomName.Type:
			p.Name = c.Get("name").Str
		case event.StateTopic.Type:
			p.Topic = c.Get("topic").Str
		case event.StateCanonicalAlias.Type:
			p.CanonicalAlias = c.Get("alias").Str
		case event.StateRoomAvatar.Type:
			p.AvatarURL = c.Get("url").Str
		case event.StateJoinRules.Type:
			p.JoinRule = c.Get("join_rule").Str
		case event.StateHistoryVisibility.Type:
			p.WorldReadable = c.Get("history_visibility").Str == "world_readable"
		}
	}
	err = s.db.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM current_state WHERE room_id = $1
		AND type = 'm.room.member' AND membership = 'join'`, string(roomID)).Scan(&p.NumJoinedMembers)
	return p, err
}
