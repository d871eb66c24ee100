package media

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/tidwall/gjson"
	"maunium.net/go/mautrix/id"
)

// refPaths are the places in event content that hold an mxc URI
// (gjson paths; m.new_content carries an edit's replacement).
var refPaths = []string{
	"url", "file.url", "info.thumbnail_url", "info.thumbnail_file.url",
	`m\.new_content.url`, `m\.new_content.file.url`, `m\.new_content.info.thumbnail_url`,
	`m\.new_content.info.thumbnail_file.url`,
}

// ReferencedMedia lists the local media ids an event's content references.
// Encrypted events are opaque and reference nothing the server can see.
func ReferencedMedia(serverName, evType string, content []byte) []string {
	if evType == "m.room.encrypted" || !gjson.ValidBytes(content) {
		return nil
	}
	paths := refPaths
	if evType == "m.room.member" {
		paths = append([]string{"avatar_url"}, refPaths...)
	}
	prefix := "mxc://" + serverName + "/"
	var out []string
	for _, v := range gjson.GetManyBytes(content, paths...) {
		if v.Type != gjson.String {
			continue
		}
		mediaID, ok := strings.CutPrefix(v.Str, prefix)
		if ok && ValidMediaID(mediaID) {
			out = append(out, mediaID)
		}
	}
	return out
}

// EventAppended records, inside the transaction that appends an event, the
// local media the event references (for the access rule) and whether the
// room turned encryption on. rooms calls it for every event.
//
// A reference is recorded only if the sender could read the item at the
// time of sending: otherwise anyone who learnt a media id could open it to
// himself (and his room) by citing it, in a message, a room avatar or his
// own profile avatar. The event itself is still sent; it grants nothing. A
// member event carries the profile of the member it is about, which the
// server copies into invites another user sends: its references must be
// readable by that member too.
func (s *Service) EventAppended(ctx context.Context, tx *sql.Tx, roomID id.RoomID, eventID id.EventID, sender id.UserID, evType string, stateKey *string, content []byte) error {
	if evType == "m.room.encryption" && stateKey != nil && *stateKey == "" {
		if _, err := tx.ExecContext(ctx, `INSERT INTO media_encrypted_rooms (room_id) VALUES ($1) ON CONFLICT DO NOTHING`,
			string(roomID)); err != nil {
			return fmt.Errorf("record encrypted room: %w", err)
		}
	}
	refs := ReferencedMedia(s.opts.ServerName, evType, content)
	if len(refs) == 0 {
		return nil
	}
	vouchers := []id.UserID{sender}
	if evType == "m.room.member" && stateKey != nil && *stateKey != string(sender) {
		vouchers = append(vouchers, id.UserID(*stateKey))
	}
	slices.Sort(refs)
	for _, mediaID := range slices.Compact(refs) {
		ok, err := s.mayReference(ctx, tx, vouchers, mediaID)
		if err != nil {
			return err
		}
		if !ok {
			s.log.InfoContext(ctx, "media reference by one who may not read the item: not recorded",
				"sender", sender, "room", roomID, "event", eventID, "media", mediaID)
			continue
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO media_refs (media_id, room_id, event_id) VALUES ($1, $2, $3)
			ON CONFLICT DO NOTHING`, mediaID, string(roomID), string(eventID)); err != nil {
			return fmt.Errorf("record media reference: %w", err)
		}
	}
	return nil
}

// mayReference reports whether every one of users may read the item now,
// as seen inside the appending transaction. An item that does not exist is
// referenced by no one.
func (s *Service) mayReference(ctx context.Context, tx *sql.Tx, users []id.UserID, mediaID string) (bool, error) {
	it, err := s.loadItem(ctx, tx, mediaID)
	if errors.Is(err, errNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	for _, u := range users {
		caller := Caller{UserID: u}
		if u != it.Uploader && s.opts.IsAdmin != nil {
			if caller.IsAdmin, err = s.opts.IsAdmin(ctx, u); err != nil {
				return false, fmt.Errorf("media reference: admin of %s: %w", u, err)
			}
		}
		ok, err := s.mayRead(ctx, tx, caller, it)
		if err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}

// EventRedacted forgets, inside the transaction that redacts an event, the
// references its content held and the redacted content no longer does: a
// redacted event grants nothing it no longer shows.
func (s *Service) EventRedacted(ctx context.Context, tx *sql.Tx, roomID id.RoomID, eventID id.EventID, evType string, before, after []byte) error {
	kept := ReferencedMedia(s.opts.ServerName, evType, after)
	for _, mediaID := range ReferencedMedia(s.opts.ServerName, evType, before) {
		if slices.Contains(kept, mediaID) {
			continue
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM media_refs WHERE media_id = $1 AND room_id = $2 AND event_id = $3`,
			mediaID, string(roomID), string(eventID)); err != nil {
			return fmt.Errorf("forget media reference: %w", err)
		}
	}
	return nil
}
