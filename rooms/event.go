package rooms

import (
	"context"
	"database/sql"
	"encoding/json"
	jsonv2 "encoding/json/v2"
	"fmt"
	"strings"

	"maunium.net/go/mautrix/federation/pdu"
	"maunium.net/go/mautrix/id"

	"ward/internal/db"
	"ward/internal/stream"
)

// Event is a stored room event.
type Event struct {
	Pos           stream.Position
	ID            id.EventID
	RoomID        id.RoomID
	Type          string
	StateKey      *string
	Sender        id.UserID
	TS            int64
	Membership    string
	ReplacesState string
	RedactedBy    string
	RelatesTo     string
	RelType       string
	TxnDevice     string
	TxnID         string
	PDU           *pdu.PDU
}

// IsState reports whether the event is a state event.
func (e *Event) IsState() bool { return e.StateKey != nil }

// ClientEvent is the client-server API's format of an event
// (spec: client-server-api "Room Event Format").
type ClientEvent struct {
	Content        json.RawMessage `json:"content"`
	EventID        id.EventID      `json:"event_id"`
	OriginServerTS int64           `json:"origin_server_ts"`
	RoomID         id.RoomID       `json:"room_id,omitempty"`
	Sender         id.UserID       `json:"sender"`
	StateKey       *string         `json:"state_key,omitempty"`
	Type           string          `json:"type"`
	Redacts        id.EventID      `json:"redacts,omitempty"`
	Unsigned       *Unsigned       `json:"unsigned,omitempty"`
}

// Unsigned is the unsigned part of a client event.
type Unsigned struct {
	Age             int64           `json:"age"`
	TransactionID   string          `json:"transaction_id,omitempty"`
	PrevContent     json.RawMessage `json:"prev_content,omitempty"`
	ReplacesState   id.EventID      `json:"replaces_state,omitempty"`
	RedactedBecause *ClientEvent    `json:"redacted_because,omitempty"`
	PrevSender      id.UserID       `json:"prev_sender,omitempty"`
}

// StrippedState is the stripped form of a state event shown with invites.
type StrippedState struct {
	Content  json.RawMessage `json:"content"`
	Sender   id.UserID       `json:"sender"`
	StateKey string          `json:"state_key"`
	Type     string          `json:"type"`
}

// Stripped returns the stripped form of a state event.
func (e *Event) Stripped() StrippedState {
	return StrippedState{Content: json.RawMessage(e.PDU.Content), Sender: e.Sender, StateKey: *e.StateKey, Type: e.Type}
}

// Content returns the event content as raw JSON.
func (e *Event) Content() json.RawMessage { return json.RawMessage(e.PDU.Content) }

const eventColumns = `stream_pos, event_id, room_id, type, state_key, sender, origin_server_ts, membership,
	replaces_state, redacted_by, relates_to, rel_type, txn_device, txn_id, pdu`

func scanEvent(sc interface{ Scan(...any) error }) (*Event, error) {
	var e Event
	var stateKey, membership, replaces, redactedBy, relatesTo, relType, txnDevice, txnID sql.NullString
	var raw string
	if err := sc.Scan(&e.Pos, &e.ID, &e.RoomID, &e.Type, &stateKey, &e.Sender, &e.TS, &membership, &replaces,
		&redactedBy, &relatesTo, &relType, &txnDevice, &txnID, &raw); err != nil {
		return nil, err
	}
	if stateKey.Valid {
		sk := stateKey.String
		e.StateKey = &sk
	}
	e.Membership, e.ReplacesState, e.RedactedBy = membership.String, replaces.String, redactedBy.String
	e.RelatesTo, e.RelType, e.TxnDevice, e.TxnID = relatesTo.String, relType.String, txnDevice.String, txnID.String
	var p pdu.PDU
	if err := jsonv2.Unmarshal([]byte(raw), &p); err != nil {
		return nil, fmt.Errorf("decode stored event %s: %w", e.ID, err)
	}
	p.InternalMeta.EventID = e.ID
	e.PDU = &p
	return &e, nil
}

func queryEvents(ctx context.Context, q db.Querier, query string, args ...any) ([]*Event, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Event
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// eventsByID loads the named events (missing ones are left out).
func eventsByID(ctx context.Context, q db.Querier, ids []id.EventID) (map[id.EventID]*Event, error) {
	out := make(map[id.EventID]*Event, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	ph := make([]string, len(ids))
	args := make([]any, len(ids))
	for i, eid := range ids {
		ph[i] = fmt.Sprintf("$%d", i+1)
		args[i] = string(eid)
	}
	evs, err := queryEvents(ctx, q, `SELECT `+eventColumns+` FROM events WHERE event_id IN (`+strings.Join(ph, ",")+`)`, args...)
	if err != nil {
		return nil, err
	}
	for _, e := range evs {
		out[e.ID] = e
	}
	return out, nil
}

// Formatter turns stored events into client events for one viewer, filling
// unsigned data (age, prev_content, redacted_because, transaction_id) with
// batched look-ups.
type Formatter struct {
	s        *Service
	viewer   id.UserID
	device   id.DeviceID
	extra    map[id.EventID]*Event
	nowMilli int64
}

// NewFormatter returns a formatter for the viewer's device.
func (s *Service) NewFormatter(viewer id.UserID, device id.DeviceID) *Formatter {
	return &Formatter{s: s, viewer: viewer, device: device, nowMilli: s.now().UnixMilli()}
}

// Format converts events, loading what their unsigned data refers to.
func (f *Formatter) Format(ctx context.Context, evs []*Event) ([]ClientEvent, error) {
	var need []id.EventID
	for _, e := range evs {
		if e.ReplacesState != "" {
			need = append(need, id.EventID(e.ReplacesState))
		}
		if e.RedactedBy != "" {
			need = append(need, id.EventID(e.RedactedBy))
		}
	}
	refs, err := eventsByID(ctx, f.s.db.Read, need)
	if err != nil {
		return nil, err
	}
	out := make([]ClientEvent, 0, len(evs))
	for _, e := range evs {
		out = append(out, f.one(e, refs))
	}
	return out, nil
}

func (f *Formatter) one(e *Event, refs map[id.EventID]*Event) ClientEvent {
	ce := ClientEvent{
		Content: json.RawMessage(e.PDU.Content), EventID: e.ID, OriginServerTS: e.TS,
		RoomID: e.RoomID, Sender: e.Sender, StateKey: e.StateKey, Type: e.Type,
	}
	if len(ce.Content) == 0 {
		ce.Content = json.RawMessage("{}")
	}
	if e.PDU.Redacts != nil {
		ce.Redacts = *e.PDU.Redacts
	}
	u := &Unsigned{Age: max(f.nowMilli-e.TS, 0)}
	if e.TxnID != "" && e.Sender == f.viewer && e.TxnDevice == string(f.device) {
		u.TransactionID = e.TxnID
	}
	if prev := refs[id.EventID(e.ReplacesState)]; prev != nil {
		u.PrevContent = json.RawMessage(prev.PDU.Content)
		u.ReplacesState = prev.ID
		u.PrevSender = prev.Sender
	}
	if red := refs[id.EventID(e.RedactedBy)]; red != nil {
		rc := f.one(red, nil)
		rc.Unsigned = nil
		u.RedactedBecause = &rc
	}
	ce.Unsigned = u
	return ce
}
