package e2ee

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"

	"maunium.net/go/mautrix/id"

	"ward/internal/db"
	"ward/internal/stream"
)

// recordChange notes, at a new stream position, that user's device list
// (device keys or cross-signing keys) changed.
func recordChange(ctx context.Context, tx *sql.Tx, user id.UserID) error {
	pos, err := stream.Allocate(ctx, tx)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO e2ee_device_list_changes (user_id, stream_pos) VALUES ($1, $2)`, user, pos); err != nil {
		return fmt.Errorf("record device list change: %w", err)
	}
	return nil
}

// peersQuery lists the users who are joined to or invited to a room the
// user is joined to or invited to.
const peersQuery = `SELECT DISTINCT other.state_key FROM current_state mine
	JOIN current_state other ON other.room_id = mine.room_id AND other.type = 'm.room.member'
		AND other.membership IN ('join', 'invite')
	WHERE mine.type = 'm.room.member' AND mine.state_key = $1 AND mine.membership IN ('join', 'invite')`

// roomPeers returns the users sharing a room with user (user included).
func roomPeers(ctx context.Context, q db.Querier, user id.UserID) (map[id.UserID]bool, error) {
	rows, err := q.QueryContext(ctx, peersQuery, user)
	if err != nil {
		return nil, fmt.Errorf("read room peers: %w", err)
	}
	defer rows.Close()
	out := map[id.UserID]bool{user: true}
	for rows.Next() {
		var u string
		if err := rows.Scan(&u); err != nil {
			return nil, err
		}
		out[id.UserID(u)] = true
	}
	return out, rows.Err()
}

// wakePeers wakes the /sync of everyone who sees user's device list.
func (s *Service) wakePeers(ctx context.Context, user id.UserID) {
	peers, err := roomPeers(ctx, s.db.Read, user)
	if err != nil {
		// Their next sync still sees the change; only the wake-up is late.
		peers = map[id.UserID]bool{user: true}
	}
	list := make([]id.UserID, 0, len(peers))
	for u := range peers {
		list = append(list, u)
	}
	s.wake(list...)
}

// changedUsers returns the users whose device lists changed in
// (since, upto], among those sharing a room with user (and user).
func changedUsers(ctx context.Context, q db.Querier, user id.UserID, since, upto stream.Position) (map[id.UserID]bool, error) {
	rows, err := q.QueryContext(ctx, `SELECT DISTINCT user_id FROM e2ee_device_list_changes WHERE stream_pos > $1 AND stream_pos <= $2`,
		since, upto)
	if err != nil {
		return nil, fmt.Errorf("read device list changes: %w", err)
	}
	var users []id.UserID
	for rows.Next() {
		var u string
		if err := rows.Scan(&u); err != nil {
			rows.Close()
			return nil, err
		}
		users = append(users, id.UserID(u))
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := map[id.UserID]bool{}
	if len(users) == 0 {
		return out, nil
	}
	peers, err := roomPeers(ctx, q, user)
	if err != nil {
		return nil, err
	}
	for _, u := range users {
		if peers[u] {
			out[u] = true
		}
	}
	return out, nil
}

// membershipDeviceLists derives device-list news from membership changes in
// (since, upto]: users who started sharing a room with user are "changed"
// (user must fetch their keys), users who no longer share any room with
// user are "left".
func membershipDeviceLists(ctx context.Context, q db.Querier, user id.UserID, since, upto stream.Position, peers map[id.UserID]bool) (changed, left map[id.UserID]bool, err error) {
	changed, left = map[id.UserID]bool{}, map[id.UserID]bool{}
	// Membership changes in the range in rooms user is or was in, and user's
	// own changes (then every member of that room counts).
	rows, err := q.QueryContext(ctx, `SELECT l.room_id, l.user_id, l.membership FROM membership_log l
		WHERE l.stream_pos > $2 AND l.stream_pos <= $3 AND l.room_id IN (
			SELECT room_id FROM membership_log WHERE user_id = $1 AND stream_pos <= $3)
		ORDER BY l.stream_pos`, user, since, upto)
	if err != nil {
		return nil, nil, fmt.Errorf("read membership changes: %w", err)
	}
	type change struct {
		room, user, membership string
	}
	var list []change
	for rows.Next() {
		var c change
		if err := rows.Scan(&c.room, &c.user, &c.membership); err != nil {
			rows.Close()
			return nil, nil, err
		}
		list = append(list, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	candidates := map[id.UserID]bool{}
	ownRooms := map[string]bool{}
	for _, c := range list {
		if id.UserID(c.user) == user {
			ownRooms[c.room] = true
			continue
		}
		candidates[id.UserID(c.user)] = true
	}
	for room := range ownRooms {
		mrows, err := q.QueryContext(ctx, `SELECT DISTINCT user_id FROM membership_log WHERE room_id = $1 AND stream_pos <= $2`, room, upto)
		if err != nil {
			return nil, nil, err
		}
		for mrows.Next() {
			var u string
			if err := mrows.Scan(&u); err != nil {
				mrows.Close()
				return nil, nil, err
			}
			if id.UserID(u) != user {
				candidates[id.UserID(u)] = true
			}
		}
		mrows.Close()
		if err := mrows.Err(); err != nil {
			return nil, nil, err
		}
	}
	for u := range candidates {
		if peers[u] {
			changed[u] = true
		} else {
			left[u] = true
		}
	}
	return changed, left, nil
}

// DeviceListChanges returns the users whose device lists changed in
// (from, to] among those sharing a room with user, including those who
// started sharing a room with user in that range.
//
// Spec: client-server-api GET /_matrix/client/v3/keys/changes.
func (s *Service) DeviceListChanges(ctx context.Context, user id.UserID, from, to stream.Position) (changed, left []id.UserID, err error) {
	if to <= from {
		return []id.UserID{}, []id.UserID{}, nil
	}
	return s.deviceLists(ctx, user, from, to)
}

func (s *Service) deviceLists(ctx context.Context, user id.UserID, from, to stream.Position) (changed, left []id.UserID, err error) {
	// Most syncs cover only messages: when no device list and no membership
	// changed anywhere in the range, skip the per-user work (it joins over
	// all of the user's rooms).
	var any int
	err = s.db.Read.QueryRowContext(ctx, `SELECT 1 WHERE EXISTS (SELECT 1 FROM e2ee_device_list_changes
		WHERE stream_pos > $1 AND stream_pos <= $2) OR EXISTS (SELECT 1 FROM membership_log
		WHERE stream_pos > $1 AND stream_pos <= $2)`, from, to).Scan(&any)
	if errors.Is(err, sql.ErrNoRows) {
		return []id.UserID{}, []id.UserID{}, nil
	} else if err != nil {
		return nil, nil, fmt.Errorf("check device list changes: %w", err)
	}
	c, err := changedUsers(ctx, s.db.Read, user, from, to)
	if err != nil {
		return nil, nil, err
	}
	peers, err := roomPeers(ctx, s.db.Read, user)
	if err != nil {
		return nil, nil, err
	}
	mc, ml, err := membershipDeviceLists(ctx, s.db.Read, user, from, to, peers)
	if err != nil {
		return nil, nil, err
	}
	for u := range mc {
		c[u] = true
	}
	changed, left = sortedUsers(c), sortedUsers(ml)
	return changed, left, nil
}

func sortedUsers(m map[id.UserID]bool) []id.UserID {
	out := make([]id.UserID, 0, len(m))
	for u := range m {
		out = append(out, u)
	}
	slices.Sort(out)
	return out
}

// DevicesDeleted drops the keys and inbox of deleted devices and tells the
// user's contacts that the device list changed. accounts calls it after
// logout and device deletion.
func (s *Service) DevicesDeleted(ctx context.Context, user id.UserID, devices []id.DeviceID) {
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		hadKeys := false
		for _, d := range devices {
			had, err := deleteDeviceData(ctx, tx, user, d)
			if err != nil {
				return err
			}
			hadKeys = hadKeys || had
		}
		if hadKeys {
			return recordChange(ctx, tx, user)
		}
		return nil
	})
	if err != nil {
		// The devices are gone already; their keys stay hidden from
		// /keys/query (it joins on devices) and are dropped on the next
		// deletion attempt.
		return
	}
	s.wakePeers(ctx, user)
}

// deleteDeviceData deletes a device's identity, one-time and fallback keys,
// its to-device inbox and the signatures others made of it, and reports
// whether it had identity keys (then its owner's device list changed).
func deleteDeviceData(ctx context.Context, tx *sql.Tx, user id.UserID, device id.DeviceID) (bool, error) {
	res, err := tx.ExecContext(ctx, `DELETE FROM e2ee_device_keys WHERE user_id = $1 AND device_id = $2`, user, device)
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	for _, table := range []string{"e2ee_one_time_keys", "e2ee_fallback_keys", "e2ee_to_device"} {
		if _, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE user_id = $1 AND device_id = $2`, user, device); err != nil {
			return false, err
		}
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM e2ee_signatures WHERE target_user = $1 AND target_key = $2`, user, device); err != nil {
		return false, err
	}
	return n > 0, nil
}
