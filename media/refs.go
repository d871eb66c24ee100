package media

import (
	"context"
	"database/sql"
	"fmt"
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
func (s *Service) EventAppended(ctx context.Context, tx *sql.Tx, roomID id.RoomID, eventID id.EventID, evType string, stateKey *string, content []byte) error {
	if evType == "m.room.encryption" && stateKey != nil && *stateKey == "" {
		if _, err := tx.ExecContext(ctx, `INSERT INTO media_encrypted_rooms (room_id) VALUES ($1) ON CONFLICT DO NOTHING`,
			string(roomID)); err != nil {
			return fmt.Errorf("record encrypted room: %w", err)
		}
	}
	for _, mediaID := range ReferencedMedia(s.opts.ServerName, evType, content) {
		if _, err := tx.ExecContext(ctx, `INSERT INTO media_refs (media_id, room_id, event_id) VALUES ($1, $2, $3)
			ON CONFLICT DO NOTHING`, mediaID, string(roomID), string(eventID)); err != nil {
			return fmt.Errorf("record media reference: %w", err)
		}
	}
	return nil
}
