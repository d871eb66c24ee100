package push

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"
)

// Pusher is one pusher as GET /pushers shows it.
type Pusher struct {
	PushKey           string          `json:"pushkey"`
	Kind              string          `json:"kind"`
	AppID             string          `json:"app_id"`
	AppDisplayName    string          `json:"app_display_name"`
	DeviceDisplayName string          `json:"device_display_name"`
	ProfileTag        string          `json:"profile_tag,omitempty"`
	Lang              string          `json:"lang"`
	Data              json.RawMessage `json:"data"`
}

// SetPusherRequest is the body of POST /pushers/set. Kind nil deletes.
type SetPusherRequest struct {
	PushKey           string          `json:"pushkey"`
	Kind              *string         `json:"kind"`
	AppID             string          `json:"app_id"`
	AppDisplayName    string          `json:"app_display_name"`
	DeviceDisplayName string          `json:"device_display_name"`
	ProfileTag        string          `json:"profile_tag"`
	Lang              string          `json:"lang"`
	Data              json.RawMessage `json:"data"`
	Append            bool            `json:"append"`
	// kindGiven tells a null kind (delete) from a missing one (an error).
	kindGiven bool
}

// UnmarshalJSON notes whether kind was given at all.
func (r *SetPusherRequest) UnmarshalJSON(b []byte) error {
	type plain SetPusherRequest
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(b, &probe); err != nil {
		return err
	}
	if err := json.Unmarshal(b, (*plain)(r)); err != nil {
		return err
	}
	_, r.kindGiven = probe["kind"]
	return nil
}

// The gateway path the spec requires of an http pusher's URL.
const notifyPath = "/_matrix/push/v1/notify"

// Pushers returns the user's pushers.
//
// Spec: client-server-api GET /pushers.
func (s *Service) Pushers(ctx context.Context, user id.UserID) ([]Pusher, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT pushkey, kind, app_id, app_display_name, device_display_name, profile_tag, lang, data
		FROM pushers WHERE user_id = $1 ORDER BY created_ts, app_id, pushkey`, user)
	if err != nil {
		return nil, fmt.Errorf("list pushers: %w", err)
	}
	defer rows.Close()
	out := []Pusher{}
	for rows.Next() {
		var p Pusher
		var data string
		if err := rows.Scan(&p.PushKey, &p.Kind, &p.AppID, &p.AppDisplayName, &p.DeviceDisplayName, &p.ProfileTag, &p.Lang, &data); err != nil {
			return nil, fmt.Errorf("list pushers: %w", err)
		}
		p.Data = json.RawMessage(data)
		out = append(out, p)
	}
	return out, rows.Err()
}

// SetPusher creates, replaces (same app ID and push key) or, with kind
// null, deletes a pusher of the user, remembering the device that set it.
// Without append, the same app ID and push key is taken away from any other
// user. Only http pushers exist here; the server does not deliver to them
// yet.
//
// Spec: client-server-api POST /pushers/set.
func (s *Service) SetPusher(ctx context.Context, user id.UserID, device id.DeviceID, req SetPusherRequest) error {
	var missing []string
	if !req.kindGiven {
		missing = append(missing, "kind")
	}
	if req.AppID == "" {
		missing = append(missing, "app_id")
	}
	if req.PushKey == "" {
		missing = append(missing, "pushkey")
	}
	if req.Kind != nil {
		for _, f := range [...]struct{ name, value string }{
			{"app_display_name", req.AppDisplayName}, {"device_display_name", req.DeviceDisplayName}, {"lang", req.Lang},
		} {
			if f.value == "" {
				missing = append(missing, f.name)
			}
		}
		if len(req.Data) == 0 || string(req.Data) == "null" {
			missing = append(missing, "data")
		}
	}
	if len(missing) > 0 {
		return missingParam("Missing parameters: %s", strings.Join(missing, ", "))
	}
	if utf8.RuneCountInString(req.AppID) > 64 {
		return mautrix.MInvalidParam.WithMessage("app_id is longer than 64 characters")
	}
	if len(req.PushKey) > 512 {
		return mautrix.MInvalidParam.WithMessage("pushkey is longer than 512 bytes")
	}
	if req.Kind == nil {
		return s.db.Tx(ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `DELETE FROM pushers WHERE user_id = $1 AND app_id = $2 AND pushkey = $3`, user, req.AppID, req.PushKey)
			return err
		})
	}
	if *req.Kind != "http" {
		return mautrix.MInvalidParam.WithMessage("Unsupported pusher kind %q: only http pushers are supported", *req.Kind)
	}
	var data struct {
		URL    *string `json:"url"`
		Format *string `json:"format"`
	}
	if json.Unmarshal(req.Data, &data) != nil || !isObject(req.Data) {
		return mautrix.MInvalidParam.WithMessage("data must be an object")
	}
	if data.URL == nil {
		return missingParam("An http pusher needs data.url")
	}
	u, err := url.Parse(*data.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Path != notifyPath {
		return mautrix.MInvalidParam.WithMessage("data.url must be an http(s) URL with the path %s", notifyPath)
	}
	if data.Format != nil && *data.Format != "event_id_only" {
		return mautrix.MInvalidParam.WithMessage("data.format can only be event_id_only")
	}
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		if !req.Append {
			if _, err := tx.ExecContext(ctx, `DELETE FROM pushers WHERE app_id = $1 AND pushkey = $2 AND user_id <> $3`,
				req.AppID, req.PushKey, user); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO pushers (user_id, app_id, pushkey, device_id, kind, app_display_name,
				device_display_name, profile_tag, lang, data, created_ts)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
			ON CONFLICT (user_id, app_id, pushkey) DO UPDATE SET device_id = excluded.device_id, kind = excluded.kind,
				app_display_name = excluded.app_display_name, device_display_name = excluded.device_display_name,
				profile_tag = excluded.profile_tag, lang = excluded.lang, data = excluded.data`,
			user, req.AppID, req.PushKey, device, *req.Kind, req.AppDisplayName, req.DeviceDisplayName, req.ProfileTag,
			req.Lang, string(req.Data), s.now().UnixMilli())
		return err
	})
}

// DevicesDeleted removes the pushers the deleted devices had set: a pusher
// must not outlive the device that receives its notifications.
func (s *Service) DevicesDeleted(ctx context.Context, user id.UserID, devices []id.DeviceID) error {
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		for _, d := range devices {
			if _, err := tx.ExecContext(ctx, `DELETE FROM pushers WHERE user_id = $1 AND device_id = $2`, user, d); err != nil {
				return fmt.Errorf("delete pushers of a deleted device: %w", err)
			}
		}
		return nil
	})
}

func isObject(b json.RawMessage) bool {
	var m map[string]json.RawMessage
	return json.Unmarshal(b, &m) == nil && m != nil
}
