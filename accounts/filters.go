package accounts

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"
)

// The shape of a filter, used only to check the types of the fields a
// client sent; the filter is stored exactly as given.
// Spec: client-server-api "Filtering", POST /user/{userId}/filter.
type (
	eventFilter struct {
		Limit      *int     `json:"limit"`
		NotSenders []string `json:"not_senders"`
		NotTypes   []string `json:"not_types"`
		Senders    []string `json:"senders"`
		Types      []string `json:"types"`
	}
	roomEventFilter struct {
		eventFilter
		ContainsURL               *bool    `json:"contains_url"`
		IncludeRedundantMembers   *bool    `json:"include_redundant_members"`
		LazyLoadMembers           *bool    `json:"lazy_load_members"`
		UnreadThreadNotifications *bool    `json:"unread_thread_notifications"`
		NotRooms                  []string `json:"not_rooms"`
		Rooms                     []string `json:"rooms"`
	}
	roomFilter struct {
		AccountData  *roomEventFilter `json:"account_data"`
		Ephemeral    *roomEventFilter `json:"ephemeral"`
		IncludeLeave *bool            `json:"include_leave"`
		NotRooms     []string         `json:"not_rooms"`
		Rooms        []string         `json:"rooms"`
		State        *roomEventFilter `json:"state"`
		Timeline     *roomEventFilter `json:"timeline"`
	}
	filterShape struct {
		EventFields []string     `json:"event_fields"`
		EventFormat *string      `json:"event_format"`
		Presence    *eventFilter `json:"presence"`
		AccountData *eventFilter `json:"account_data"`
		Room        *roomFilter  `json:"room"`
	}
)

// maxFilterBytes keeps a stored filter small; real ones are a few hundred
// bytes.
const maxFilterBytes = 64 << 10

// CheckFilter reports whether raw is a filter: a JSON object whose known
// fields have the spec's types.
func CheckFilter(raw json.RawMessage) error {
	if len(raw) > maxFilterBytes {
		return mautrix.MTooLarge.WithMessage("The filter is too large")
	}
	if !isJSONObject(raw) {
		return mautrix.MBadJSON.WithMessage("A filter must be a JSON object")
	}
	var f filterShape
	if err := json.Unmarshal(raw, &f); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return mautrix.MBadJSON.WithMessage("Filter field %q has the wrong type", te.Field)
		}
		return mautrix.MBadJSON.WithMessage("The filter has a field of the wrong type")
	}
	if f.EventFormat != nil && *f.EventFormat != "client" && *f.EventFormat != "federation" {
		return mautrix.MBadJSON.WithMessage("event_format must be \"client\" or \"federation\"")
	}
	return nil
}

// CreateFilter stores a filter of the caller and returns its ID.
//
// Spec: client-server-api POST /user/{userId}/filter.
func (s *Service) CreateFilter(ctx context.Context, sess Session, user id.UserID, raw json.RawMessage) (string, error) {
	if err := checkOwner(sess, user, "create filters"); err != nil {
		return "", err
	}
	if err := CheckFilter(raw); err != nil {
		return "", err
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, raw); err != nil {
		return "", mautrix.MBadJSON.WithMessage("A filter must be a JSON object")
	}
	var fid int64
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, `INSERT INTO filters (user_id, filter) VALUES ($1, $2) RETURNING filter_id`,
			user, compact.String()).Scan(&fid)
	})
	if err != nil {
		return "", fmt.Errorf("store filter: %w", err)
	}
	return strconv.FormatInt(fid, 10), nil
}

var errNoFilter = mautrix.MNotFound.WithMessage("Unknown filter")

// Filter returns one of user's stored filters (M_NOT_FOUND when missing).
// /sync calls it for its filter parameter.
//
// Spec: client-server-api GET /user/{userId}/filter/{filterId}.
func (s *Service) Filter(ctx context.Context, user id.UserID, filterID string) (json.RawMessage, error) {
	fid, err := strconv.ParseInt(filterID, 10, 64)
	if err != nil || fid <= 0 {
		return nil, errNoFilter
	}
	var raw string
	err = s.db.Read.QueryRowContext(ctx, `SELECT filter FROM filters WHERE filter_id = $1 AND user_id = $2`, fid, user).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNoFilter
	}
	if err != nil {
		return nil, fmt.Errorf("read filter: %w", err)
	}
	return json.RawMessage(raw), nil
}
