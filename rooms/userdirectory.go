package rooms

import (
	"context"

	"maunium.net/go/mautrix/id"
)

// VisibleUsers lists the users a user may find in the user directory:
// those who share a room with them (joined or invited) and the members of
// published rooms (spec: POST /user_directory/search: "users who share a
// room with the requester or are in a public room"). The clinic policy
// narrows this further.
func (s *Service) VisibleUsers(ctx context.Context, user id.UserID) (map[id.UserID]bool, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT DISTINCT other.state_key FROM current_state mine
		JOIN current_state other ON other.room_id = mine.room_id AND other.type = 'm.room.member'
			AND other.membership IN ('join', 'invite')
		WHERE mine.type = 'm.room.member' AND mine.state_key = $1 AND mine.membership = 'join'
		UNION
		SELECT DISTINCT cs.state_key FROM current_state cs JOIN rooms r ON r.room_id = cs.room_id
		WHERE r.is_public = $2 AND cs.type = 'm.room.member' AND cs.membership = 'join'`, string(user), true)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[id.UserID]bool{}
	for rows.Next() {
		var u string
		if err := rows.Scan(&u); err != nil {
			return nil, err
		}
		out[id.UserID(u)] = true
	}
	return out, rows.Err()
}
