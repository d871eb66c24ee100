package accounts

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"

	"ward/internal/stream"
)

// AccountData is one account-data event of a user, global (RoomID "") or
// for a room, with the stream position of its last change.
type AccountData struct {
	RoomID  id.RoomID
	Type    string
	Content json.RawMessage
	Pos     stream.Position
}

const maxAccountDataType = 255

var errNoAccountData = mautrix.MNotFound.WithMessage("Account data not found")

func checkOwner(sess Session, user id.UserID, what string) error {
	if user != sess.UserID {
		return mautrix.MForbidden.WithMessage("Cannot %s for other users", what)
	}
	return nil
}

// serverManagedTypes cannot be written through the account-data API.
// Spec: client-server-api "Client Config" (m.fully_read; m.push_rules since
// v1.10): 405 M_BAD_JSON.
var serverManagedTypes = map[string]bool{"m.fully_read": true, "m.push_rules": true}

// AccountData returns the content of one account-data event of the caller.
//
// Spec: client-server-api GET /user/{userId}/account_data/{type} and
// GET /user/{userId}/rooms/{roomId}/account_data/{type}.
func (s *Service) AccountData(ctx context.Context, sess Session, user id.UserID, room id.RoomID, typ string) (json.RawMessage, error) {
	if err := checkOwner(sess, user, "get account data"); err != nil {
		return nil, err
	}
	var content string
	err := s.db.Read.QueryRowContext(ctx, `SELECT content FROM account_data WHERE user_id = $1 AND room_id = $2 AND type = $3`,
		user, room, typ).Scan(&content)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNoAccountData
	}
	if err != nil {
		return nil, fmt.Errorf("read account data: %w", err)
	}
	return json.RawMessage(content), nil
}

// SetAccountData stores an account-data event of the caller (content must
// be a JSON object), takes a stream position for it and wakes the caller's
// /sync.
//
// Spec: client-server-api PUT /user/{userId}/account_data/{type} and
// PUT /user/{userId}/rooms/{roomId}/account_data/{type}.
func (s *Service) SetAccountData(ctx context.Context, sess Session, user id.UserID, room id.RoomID, typ string, content json.RawMessage) error {
	if err := checkOwner(sess, user, "add account data"); err != nil {
		return err
	}
	if typ == "" || len(typ) > maxAccountDataType {
		return mautrix.MInvalidParam.WithMessage("Invalid account data type")
	}
	if serverManagedTypes[typ] {
		return mautrix.MBadJSON.WithStatus(405).WithMessage("Cannot set %s through this API.", typ)
	}
	if !isJSONObject(content) {
		return mautrix.MBadJSON.WithMessage("Account data content must be a JSON object")
	}
	return s.writeAccountData(ctx, user, room, typ, func(json.RawMessage) (json.RawMessage, error) { return content, nil })
}

// writeAccountData replaces one account-data event with what change makes
// of the current content (nil when unset), in one transaction.
func (s *Service) writeAccountData(ctx context.Context, user id.UserID, room id.RoomID, typ string,
	change func(old json.RawMessage) (json.RawMessage, error)) error {
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		var old json.RawMessage
		var content string
		err := tx.QueryRowContext(ctx, `SELECT content FROM account_data WHERE user_id = $1 AND room_id = $2 AND type = $3`,
			user, room, typ).Scan(&content)
		switch {
		case err == nil:
			old = json.RawMessage(content)
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		next, err := change(old)
		if err != nil {
			return err
		}
		pos, err := stream.Allocate(ctx, tx)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO account_data (user_id, room_id, type, content, stream_pos) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (user_id, room_id, type) DO UPDATE SET content = excluded.content, stream_pos = excluded.stream_pos`,
			user, room, typ, string(next), pos)
		return err
	})
	if err != nil {
		var re mautrix.RespError
		if errors.As(err, &re) {
			return err
		}
		return fmt.Errorf("write account data: %w", err)
	}
	s.wake(user)
	return nil
}

// AccountDataSince returns the latest value of every account-data event of
// user changed in (since, upto]; since 0 means all of them. /sync calls it.
func (s *Service) AccountDataSince(ctx context.Context, user id.UserID, since, upto stream.Position) ([]AccountData, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT room_id, type, content, stream_pos FROM account_data
		WHERE user_id = $1 AND stream_pos > $2 AND stream_pos <= $3 ORDER BY stream_pos`, user, since, upto)
	if err != nil {
		return nil, fmt.Errorf("account data since: %w", err)
	}
	defer rows.Close()
	var out []AccountData
	for rows.Next() {
		var ad AccountData
		var room, content string
		if err := rows.Scan(&room, &ad.Type, &content, &ad.Pos); err != nil {
			return nil, fmt.Errorf("account data since: %w", err)
		}
		ad.RoomID, ad.Content = id.RoomID(room), json.RawMessage(content)
		out = append(out, ad)
	}
	return out, rows.Err()
}

func isJSONObject(b json.RawMessage) bool {
	var m map[string]json.RawMessage
	return json.Unmarshal(b, &m) == nil && m != nil
}

// Tags are kept as the m.tag room account-data event.
const tagType = "m.tag"

type tagContent struct {
	Tags map[string]json.RawMessage `json:"tags"`
}

// Tags returns the caller's tags on a room, as {tag: {order…}}.
//
// Spec: client-server-api "Room Tagging", GET /user/{userId}/rooms/{roomId}/tags.
func (s *Service) Tags(ctx context.Context, sess Session, user id.UserID, room id.RoomID) (map[string]json.RawMessage, error) {
	if err := checkOwner(sess, user, "get tags"); err != nil {
		return nil, err
	}
	raw, err := s.AccountData(ctx, sess, user, room, tagType)
	if errors.Is(err, errNoAccountData) {
		return map[string]json.RawMessage{}, nil
	}
	if err != nil {
		return nil, err
	}
	var tc tagContent
	if json.Unmarshal(raw, &tc) != nil || tc.Tags == nil {
		return map[string]json.RawMessage{}, nil
	}
	return tc.Tags, nil
}

// SetTag adds or replaces a tag of the caller on a room. content is the
// tag's object (its optional order must be a number).
//
// Spec: client-server-api PUT /user/{userId}/rooms/{roomId}/tags/{tag}.
func (s *Service) SetTag(ctx context.Context, sess Session, user id.UserID, room id.RoomID, tag string, content json.RawMessage) error {
	if err := checkOwner(sess, user, "add tags"); err != nil {
		return err
	}
	if tag == "" || len(tag) > 255 {
		return mautrix.MInvalidParam.WithMessage("Invalid tag")
	}
	var body struct {
		Order *float64 `json:"order"`
	}
	if !isJSONObject(content) || json.Unmarshal(content, &body) != nil {
		return mautrix.MBadJSON.WithMessage("A tag must be a JSON object with an optional numeric order")
	}
	return s.changeTags(ctx, user, room, func(tags map[string]json.RawMessage) { tags[tag] = content })
}

// DeleteTag removes a tag of the caller from a room.
//
// Spec: client-server-api DELETE /user/{userId}/rooms/{roomId}/tags/{tag}.
func (s *Service) DeleteTag(ctx context.Context, sess Session, user id.UserID, room id.RoomID, tag string) error {
	if err := checkOwner(sess, user, "remove tags"); err != nil {
		return err
	}
	return s.changeTags(ctx, user, room, func(tags map[string]json.RawMessage) { delete(tags, tag) })
}

func (s *Service) changeTags(ctx context.Context, user id.UserID, room id.RoomID, edit func(map[string]json.RawMessage)) error {
	return s.writeAccountData(ctx, user, room, tagType, func(old json.RawMessage) (json.RawMessage, error) {
		var tc tagContent
		if old != nil {
			_ = json.Unmarshal(old, &tc)
		}
		if tc.Tags == nil {
			tc.Tags = map[string]json.RawMessage{}
		}
		edit(tc.Tags)
		return json.Marshal(tc)
	})
}
