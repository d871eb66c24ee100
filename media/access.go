package media

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"maunium.net/go/mautrix/id"

	"ward/internal/db"
)

// item is one media row.
type item struct {
	MediaID     string
	Uploader    id.UserID
	ContentType string
	FileName    string
	SHA256      string // "" while waiting for an asynchronous upload
	Size        int64
	UploadedTS  int64
	ExpiresTS   int64
}

// loadItem reads an item through q: the read pool, or the transaction
// that appends an event referencing it.
func (s *Service) loadItem(ctx context.Context, q db.Querier, mediaID string) (*item, error) {
	var it item
	var sum sql.NullString
	var uploaded, expires sql.NullInt64
	err := q.QueryRowContext(ctx, `SELECT media_id, uploader, content_type, filename, sha256, size, uploaded_ts, expires_ts
		FROM media WHERE media_id = $1`, mediaID).
		Scan(&it.MediaID, &it.Uploader, &it.ContentType, &it.FileName, &sum, &it.Size, &uploaded, &expires)
	if err == sql.ErrNoRows {
		return nil, errNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("load media: %w", err)
	}
	it.SHA256, it.UploadedTS, it.ExpiresTS = sum.String, uploaded.Int64, expires.Int64
	return &it, nil
}

// mayRead is the access rule (see the README's "Media" section):
//
//  1. the uploader and admins always may;
//  2. members currently joined to a room in which a plaintext event that
//     references the item was sent may; only references whose sender could
//     read the item when sending are recorded (see EventAppended), so that
//     an id is never a link that opens the item to whoever cites it;
//  3. if the item is the uploader's current profile avatar, whoever may see
//     the uploader's profile may;
//  4. if the item was uploaded as an opaque blob (application/octet-stream,
//     what clients use for encrypted attachments, whose references the
//     server cannot read), users currently joined to an encrypted room the
//     uploader is also joined to may.
//
// The rules add up: each one can only open the item, never close it to
// whom another rule opens it. In particular a plaintext reference to a
// blob (rule 2) does not take it away from the encrypted room-mates of
// rule 4: the key went to them, and re-sharing elsewhere must not quietly
// revoke their copy.
//
// Everyone else is told the item does not exist. q is where media's tables
// and memberships are read: the read pool for a download, the appending
// transaction when deciding whether an event's sender may reference it.
func (s *Service) mayRead(ctx context.Context, q db.Querier, caller Caller, it *item) (bool, error) {
	if caller.IsAdmin || caller.UserID == it.Uploader {
		return true, nil
	}
	refRooms, err := s.refRooms(ctx, q, it.MediaID)
	if err != nil {
		return false, err
	}
	var callerRooms map[id.RoomID]bool
	joined := func() (map[id.RoomID]bool, error) {
		if callerRooms != nil {
			return callerRooms, nil
		}
		if s.Rooms == nil {
			return map[id.RoomID]bool{}, nil
		}
		rs, err := s.Rooms.JoinedRoomsIn(ctx, q, caller.UserID)
		if err != nil {
			return nil, err
		}
		callerRooms = make(map[id.RoomID]bool, len(rs))
		for _, r := range rs {
			callerRooms[r] = true
		}
		return callerRooms, nil
	}
	if len(refRooms) > 0 {
		mine, err := joined()
		if err != nil {
			return false, err
		}
		for _, r := range refRooms {
			if mine[r] {
				return true, nil
			}
		}
	}
	if ok, err := s.isVisibleAvatar(ctx, caller, it); ok || err != nil {
		return ok, err
	}
	if isOpaque(it.ContentType) && s.Rooms != nil {
		mine, err := joined()
		if err != nil || len(mine) == 0 {
			return false, err
		}
		theirs, err := s.Rooms.JoinedRoomsIn(ctx, q, it.Uploader)
		if err != nil {
			return false, err
		}
		for _, r := range theirs {
			if !mine[r] {
				continue
			}
			enc, err := s.isEncryptedRoom(ctx, q, r)
			if err != nil || enc {
				return enc, err
			}
		}
	}
	return false, nil
}

// isOpaque reports whether a declared type says "bytes, no meaning": what
// clients declare for encrypted attachments.
func isOpaque(contentType string) bool {
	mt, _, _ := strings.Cut(contentType, ";")
	return mt == "" || mt == "application/octet-stream"
}

func (s *Service) isVisibleAvatar(ctx context.Context, caller Caller, it *item) (bool, error) {
	if s.opts.Profiles == nil {
		return false, nil
	}
	_, avatar, err := s.opts.Profiles.Profile(ctx, it.Uploader)
	if err != nil || avatar != "mxc://"+s.opts.ServerName+"/"+it.MediaID {
		// An uploader without a profile (deactivated) shares no avatar.
		return false, nil
	}
	if s.opts.ProfileVisible == nil {
		return true, nil
	}
	return s.opts.ProfileVisible(ctx, caller.UserID, it.Uploader)
}

func (s *Service) refRooms(ctx context.Context, q db.Querier, mediaID string) ([]id.RoomID, error) {
	rows, err := q.QueryContext(ctx, `SELECT DISTINCT room_id FROM media_refs WHERE media_id = $1`, mediaID)
	if err != nil {
		return nil, fmt.Errorf("media refs: %w", err)
	}
	defer rows.Close()
	var out []id.RoomID
	for rows.Next() {
		var r string
		if err := rows.Scan(&r); err != nil {
			return nil, err
		}
		out = append(out, id.RoomID(r))
	}
	return out, rows.Err()
}

func (s *Service) isEncryptedRoom(ctx context.Context, q db.Querier, roomID id.RoomID) (bool, error) {
	var one int
	err := q.QueryRowContext(ctx, `SELECT 1 FROM media_encrypted_rooms WHERE room_id = $1`, string(roomID)).Scan(&one)
	if err == sql.ErrNoRows {
		return false, nil
	}
	return err == nil, err
}
