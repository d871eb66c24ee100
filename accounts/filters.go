package accounts

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"

	"ward/internal/jsoncheck"
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

// FilterError is a filter that does not have the spec's shape. Its message
// names the field and what the spec expects there, in the client's terms
// (never Go's, and never the content sent). The endpoint decides the
// errcode: M_BAD_JSON for a request body, M_INVALID_PARAM for a query
// parameter.
type FilterError struct{ msg string }

func (e *FilterError) Error() string { return e.msg }

// FilterRespError turns a *FilterError into the Matrix error as (with the
// message "Invalid filter: ..."); other errors pass unchanged.
func FilterRespError(err error, as mautrix.RespError) error {
	var fe *FilterError
	if errors.As(err, &fe) {
		return as.WithMessage("Invalid filter: %s", fe.msg)
	}
	return err
}

// filterFieldWants says what the spec expects in each filter field, by the
// field's name (the same name means the same thing at every level).
// Spec: client-server-api "Filtering": Filter, RoomFilter, EventFilter,
// RoomEventFilter.
var filterFieldWants = map[string]string{
	"rooms": "a list of room IDs", "not_rooms": "a list of room IDs",
	"senders": "a list of user IDs", "not_senders": "a list of user IDs",
	"types": "a list of event types", "not_types": "a list of event types",
	"event_fields": "a list of strings",
	"event_format": `"client" or "federation"`,
	"limit":        "a non-negative integer",
	"contains_url": "true or false", "include_redundant_members": "true or false",
	"lazy_load_members": "true or false", "unread_thread_notifications": "true or false",
	"include_leave": "true or false",
}

// CheckFilter reports whether raw is a Filter: a JSON object whose known
// fields have the spec's types, with no negative limit. The error is a
// *FilterError, or M_TOO_LARGE.
func CheckFilter(raw json.RawMessage) error {
	var f filterShape
	if err := decodeFilter(raw, &f); err != nil {
		return err
	}
	if f.EventFormat != nil && *f.EventFormat != "client" && *f.EventFormat != "federation" {
		return filterFieldError("event_format")
	}
	limits := map[string]*eventFilter{"presence": f.Presence, "account_data": f.AccountData}
	if rf := f.Room; rf != nil {
		for name, part := range map[string]*roomEventFilter{"timeline": rf.Timeline, "state": rf.State,
			"ephemeral": rf.Ephemeral, "account_data": rf.AccountData} {
			if part != nil {
				limits["room."+name] = &part.eventFilter
			}
		}
	}
	for path, part := range limits {
		if part != nil && part.Limit != nil && *part.Limit < 0 {
			return filterFieldError(path + ".limit")
		}
	}
	return nil
}

// CheckRoomEventFilter reports whether raw is a RoomEventFilter, the
// filter of /messages and /context, as CheckFilter does for a Filter.
func CheckRoomEventFilter(raw json.RawMessage) error {
	var f roomEventFilter
	if err := decodeFilter(raw, &f); err != nil {
		return err
	}
	if f.Limit != nil && *f.Limit < 0 {
		return filterFieldError("limit")
	}
	return nil
}

// decodeFilter decodes raw into the shape v, turning each failure into a
// message about the filter.
func decodeFilter(raw json.RawMessage, v any) error {
	if len(raw) > maxFilterBytes {
		return mautrix.MTooLarge.WithMessage("The filter is larger than %d bytes", maxFilterBytes)
	}
	if !json.Valid(raw) || !isJSONObject(raw) {
		return &FilterError{"the filter must be a JSON object"}
	}
	// As for request bodies: what a decoder would change (a lone
	// surrogate) or the database cannot hold (NUL) is refused.
	if err := jsoncheck.Check(raw, jsoncheck.Rules{NoNUL: true, ValidStrings: true}); err != nil {
		return &FilterError{err.Error()}
	}
	if err := json.Unmarshal(raw, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return filterFieldError(te.Field)
		}
		return &FilterError{"the filter has a field of the wrong type"}
	}
	return nil
}

// filterFieldError names the field at path (dotted, as "room.rooms.0")
// and what it must be.
func filterFieldError(path string) error {
	parts := strings.Split(path, ".")
	for len(parts) > 1 && isIndex(parts[len(parts)-1]) {
		parts = parts[:len(parts)-1] // an element of a list: name the list
	}
	field := strings.Join(parts, ".")
	want, ok := filterFieldWants[parts[len(parts)-1]]
	if !ok {
		want = "an object"
	}
	return &FilterError{field + " must be " + want}
}

func isIndex(s string) bool {
	_, err := strconv.Atoi(s)
	return err == nil
}

// CreateFilter stores a filter of the caller and returns its ID.
//
// Spec: client-server-api POST /user/{userId}/filter.
func (s *Service) CreateFilter(ctx context.Context, sess Session, user id.UserID, raw json.RawMessage) (string, error) {
	if err := checkOwner(sess, user, "create filters"); err != nil {
		return "", err
	}
	if err := CheckFilter(raw); err != nil {
		return "", FilterRespError(err, mautrix.MBadJSON)
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
