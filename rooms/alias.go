package rooms

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"
)

// LookupAlias resolves an alias (spec: GET /directory/room/{roomAlias}).
func (s *Service) LookupAlias(ctx context.Context, alias id.RoomAlias) (id.RoomID, error) {
	var rid string
	err := s.db.Read.QueryRowContext(ctx, `SELECT room_id FROM room_aliases WHERE alias = $1`, string(alias)).Scan(&rid)
	if errors.Is(err, sql.ErrNoRows) {
		return "", mautrix.MNotFound.WithMessage("Room alias %s not found", alias)
	}
	return id.RoomID(rid), err
}

func (s *Service) checkAlias(alias id.RoomAlias) error {
	a := string(alias)
	if !strings.HasPrefix(a, "#") || !strings.Contains(a, ":") || len(a) > 255 {
		return mautrix.MInvalidParam.WithMessage("Invalid room alias %q", alias)
	}
	if _, server, _ := strings.Cut(a, ":"); server != s.serverName {
		return mautrix.MInvalidParam.WithMessage("Aliases must be on this server (%s)", s.serverName)
	}
	return nil
}

// SetAlias creates an alias for a room the user is joined to
// (spec: PUT /directory/room/{roomAlias}).
func (s *Service) SetAlias(ctx context.Context, user id.UserID, alias id.RoomAlias, roomID id.RoomID) error {
	if err := s.checkAlias(alias); err != nil {
		return err
	}
	cur, err := currentStateEvent(ctx, s.db.Read, roomID, "m.room.member", string(user))
	if err != nil {
		return err
	}
	if cur == nil || cur.Membership != "join" {
		return mautrix.MForbidden.WithMessage("You must be in the room to give it an alias")
	}
	return s.db.Tx(ctx, func(tx *sql.Tx) error { return s.insertAlias(ctx, tx, alias, roomID, user) })
}

// DeleteAlias removes an alias; its creator, or a room member with power
// to change m.room.canonical_alias, may do so (spec: DELETE /directory/room/{roomAlias}).
func (s *Service) DeleteAlias(ctx context.Context, user id.UserID, alias id.RoomAlias) error {
	var rid, creator string
	err := s.db.Read.QueryRowContext(ctx, `SELECT room_id, creator FROM room_aliases WHERE alias = $1`, string(alias)).Scan(&rid, &creator)
	if errors.Is(err, sql.ErrNoRows) {
		return mautrix.MNotFound.WithMessage("Room alias %s not found", alias)
	} else if err != nil {
		return err
	}
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		if creator != string(user) {
			r, err := s.lockRoom(ctx, tx, id.RoomID(rid))
			if err != nil {
				return err
			}
			pl, err := s.powerLevels(ctx, tx, r)
			if err != nil {
				return err
			}
			if pl.GetUserLevel(user) < pl.StateDefault() {
				return mautrix.MForbidden.WithMessage("You may not remove this alias")
			}
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM room_aliases WHERE alias = $1`, string(alias))
		return err
	})
}

// Aliases lists a room's local aliases (spec: GET /rooms/{roomId}/aliases).
func (s *Service) Aliases(ctx context.Context, user id.UserID, roomID id.RoomID) ([]id.RoomAlias, error) {
	v, err := s.roomViewer(ctx, roomID, user)
	if err != nil {
		return nil, err
	}
	if v.current() != "join" {
		return nil, errNotInRoom
	}
	rows, err := s.db.Read.QueryContext(ctx, `SELECT alias FROM room_aliases WHERE room_id = $1 ORDER BY alias`, string(roomID))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []id.RoomAlias{}
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			return nil, err
		}
		out = append(out, id.RoomAlias(a))
	}
	return out, rows.Err()
}
