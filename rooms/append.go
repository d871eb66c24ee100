package rooms

import (
	"context"
	"database/sql"
	"encoding/json"
	jsonv2 "encoding/json/v2"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tidwall/gjson"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/federation/eventauth"
	"maunium.net/go/mautrix/federation/pdu"
	"maunium.net/go/mautrix/id"

	"ward/internal/db"
	"ward/internal/jsoncheck"
	"ward/internal/stream"
)

// MaxEventBytes is the spec's limit on the size of a PDU
// (spec: client-server-api "Size limits").
const MaxEventBytes = 65536

// proto is an event to be built: what the client asked for.
type proto struct {
	Type     string
	StateKey *string
	Sender   id.UserID
	Content  json.RawMessage
	Redacts  id.EventID
	// TxnDevice and TxnID record the client's transaction for idempotency
	// and for unsigned.transaction_id.
	TxnDevice id.DeviceID
	TxnID     string
	// TxnScope is the endpoint the transaction id belongs to: the spec
	// scopes transaction ids to the device and the request path, so the
	// same id on another room, event type or endpoint is a new request.
	TxnScope string
}

// txnKey is the key idempotency is checked under.
func (p proto) txnKey() string { return p.TxnScope + "|" + p.TxnID }

// roomRow is a room's row, read with the room locked for appending.
type roomRow struct {
	ID          id.RoomID
	Version     id.RoomVersion
	Creator     id.UserID
	LastEventID id.EventID
	Depth       int64
	IsPublic    bool
	// members are the joined members and invitees (user → membership),
	// read once per transaction when first needed (the audit's recipients,
	// the wake-up after commit) and kept up to date as member events are
	// appended; nil until read.
	members map[string]string
}

// memberships returns the room's joined members and invitees as of now in
// the transaction.
func (r *roomRow) memberships(ctx context.Context, tx *sql.Tx) (map[string]string, error) {
	if r.members != nil {
		return r.members, nil
	}
	rows, err := tx.QueryContext(ctx, `SELECT state_key, membership FROM current_state WHERE room_id = $1
		AND type = 'm.room.member' AND membership IN ('join', 'invite')`, string(r.ID))
	if err != nil {
		return nil, fmt.Errorf("read members: %w", err)
	}
	defer rows.Close()
	m := map[string]string{}
	for rows.Next() {
		var u, ms string
		if err := rows.Scan(&u, &ms); err != nil {
			return nil, err
		}
		m[u] = ms
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	r.members = m
	return m, nil
}

// errNoRoom is returned when a room does not exist.
var errNoRoom = mautrix.MNotFound.WithMessage("Room not found")

// lockRoom reads the room's row inside tx, holding it so that appends to one
// room are serialised (PostgreSQL row lock; SQLite has a single writer).
func (s *Service) lockRoom(ctx context.Context, tx *sql.Tx, roomID id.RoomID) (*roomRow, error) {
	q := `SELECT room_id, room_version, creator, last_event_id, depth, is_public FROM rooms WHERE room_id = $1`
	if s.db.Dialect == db.Postgres {
		q += ` FOR UPDATE`
	}
	var r roomRow
	err := tx.QueryRowContext(ctx, q, string(roomID)).Scan(&r.ID, &r.Version, &r.Creator, &r.LastEventID, &r.Depth, &r.IsPublic)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNoRoom
	}
	if err != nil {
		return nil, fmt.Errorf("lock room: %w", err)
	}
	return &r, nil
}

// stateEventID returns the event id of the current state entry, "" if none.
func stateEventID(ctx context.Context, q db.Querier, roomID id.RoomID, evType, stateKey string) (id.EventID, error) {
	var eid string
	err := q.QueryRowContext(ctx, `SELECT event_id FROM current_state WHERE room_id = $1 AND type = $2 AND state_key = $3`,
		string(roomID), evType, stateKey).Scan(&eid)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return id.EventID(eid), err
}

// currentStateEvents loads several current state events in one query:
// the entries' events themselves, so that building an event reads its auth
// events and the entry it replaces in one round trip.
func currentStateEvents(ctx context.Context, q db.Querier, roomID id.RoomID, keys []pdu.StateKey) (map[pdu.StateKey]*Event, error) {
	out := make(map[pdu.StateKey]*Event, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	var b strings.Builder
	args := []any{string(roomID)}
	b.WriteString(`SELECT ` + eventColumns + ` FROM events WHERE event_id IN
		(SELECT event_id FROM current_state WHERE room_id = $1 AND (`)
	for i, k := range keys {
		if i > 0 {
			b.WriteString(" OR ")
		}
		fmt.Fprintf(&b, "(type = $%d AND state_key = $%d)", len(args)+1, len(args)+2)
		args = append(args, k.Type, k.StateKey)
	}
	b.WriteString("))")
	evs, err := queryEvents(ctx, q, b.String(), args...)
	if err != nil {
		return nil, fmt.Errorf("read current state: %w", err)
	}
	for _, e := range evs {
		if e.StateKey != nil {
			out[pdu.StateKey{Type: e.Type, StateKey: *e.StateKey}] = e
		}
	}
	return out, nil
}

// currentStateEvent loads one current state event, nil if none.
func currentStateEvent(ctx context.Context, q db.Querier, roomID id.RoomID, evType, stateKey string) (*Event, error) {
	eid, err := stateEventID(ctx, q, roomID, evType, stateKey)
	if err != nil || eid == "" {
		return nil, err
	}
	m, err := eventsByID(ctx, q, []id.EventID{eid})
	if err != nil {
		return nil, err
	}
	return m[eid], nil
}

// authError turns an auth-rule rejection into the client's 403.
func authError(err error) error {
	var afe eventauth.AuthFailError
	if errors.As(err, &afe) {
		return mautrix.MForbidden.WithMessage("Event refused by the room's auth rules (rule %s): %s", afe.Index, err.Error())
	}
	return err
}

// appendEvent builds, signs, authorises and stores one event in room r
// inside tx, updating current state, the membership log and the room's
// forward extremity. r is updated in place so that several events can be
// appended in one transaction. The caller wakes the notifier after commit.
func (s *Service) appendEvent(ctx context.Context, tx *sql.Tx, r *roomRow, p proto) (*Event, error) {
	if p.Content == nil {
		p.Content = json.RawMessage("{}")
	}
	if !gjson.ValidBytes(p.Content) || !gjson.ParseBytes(p.Content).IsObject() {
		return nil, mautrix.MBadJSON.WithMessage("Event content must be a JSON object")
	}
	// Events are signed over canonical JSON: refuse up front, with the rule
	// and never the content, what it cannot represent.
	if err := jsoncheck.Check(p.Content, jsoncheck.Rules{Canonical: true, NoNUL: true}); err != nil {
		return nil, mautrix.MBadJSON.WithMessage("Event content is not valid canonical JSON: %s", err.Error())
	}
	ev := &pdu.PDU{
		Type:           p.Type,
		StateKey:       p.StateKey,
		Sender:         p.Sender,
		Content:        []byte(p.Content),
		OriginServerTS: s.now().UnixMilli(),
		Depth:          r.Depth + 1,
		PrevEvents:     []id.EventID{},
		AuthEvents:     []id.EventID{},
	}
	isCreate := p.Type == event.StateCreate.Type && p.StateKey != nil && *p.StateKey == ""
	if !isCreate || !r.Version.RoomIDIsCreateEventID() {
		ev.RoomID = r.ID
	}
	if r.LastEventID != "" {
		ev.PrevEvents = []id.EventID{r.LastEventID}
	}
	if p.Redacts != "" {
		red := p.Redacts
		ev.Redacts = &red
	}
	// One query for the auth events and the state entry this event
	// replaces (one round trip instead of four on PostgreSQL).
	var keys []pdu.StateKey
	if !isCreate {
		keys = ev.AuthEventSelection(r.Version)
	}
	if p.StateKey != nil {
		keys = append(keys, pdu.StateKey{Type: p.Type, StateKey: *p.StateKey})
	}
	current, err := currentStateEvents(ctx, tx, r.ID, keys)
	if err != nil {
		return nil, err
	}
	if !isCreate {
		for _, key := range ev.AuthEventSelection(r.Version) {
			if e := current[key]; e != nil {
				ev.AuthEvents = append(ev.AuthEvents, e.ID)
			}
		}
	}
	if err := ev.Sign(r.Version, s.serverName, s.keyID, s.key); err != nil {
		// The encoder's error may quote the content: never pass it on.
		return nil, mautrix.MBadJSON.WithMessage("Event cannot be encoded as canonical JSON")
	}
	raw, err := jsonv2.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("encode event: %w", err)
	}
	if len(raw) > MaxEventBytes {
		return nil, mautrix.MTooLarge.WithMessage("Event is larger than %d bytes", MaxEventBytes)
	}
	// The auth events are the current state events just read; anything
	// else the auth rules ask for is read from the table.
	byID := make(map[id.EventID]*Event, len(current))
	for _, e := range current {
		byID[e.ID] = e
	}
	getEvents := func(ids []id.EventID) ([]*pdu.PDU, error) {
		var missing []id.EventID
		for _, eid := range ids {
			if byID[eid] == nil {
				missing = append(missing, eid)
			}
		}
		if len(missing) > 0 {
			m, err := eventsByID(ctx, tx, missing)
			if err != nil {
				return nil, err
			}
			for eid, e := range m {
				byID[eid] = e
			}
		}
		out := make([]*pdu.PDU, len(ids))
		for i, eid := range ids {
			if e := byID[eid]; e != nil {
				out[i] = e.PDU
			}
		}
		return out, nil
	}
	getKey := func(serverName string, keyID id.KeyID, _ time.Time) (id.SigningKey, time.Time, error) {
		if serverName == s.serverName && keyID == s.keyID {
			return id.SigningKey(encodeKey(s.key)), time.Now().Add(24 * time.Hour), nil
		}
		return "", time.Time{}, nil
	}
	if err := eventauth.Authorize(r.Version, ev, nil, getEvents, getKey); err != nil {
		return nil, refusedByAuth(r, p, authError(err))
	}
	eventID, err := ev.GetEventID(r.Version)
	if err != nil {
		return nil, fmt.Errorf("event id: %w", err)
	}
	if isCreate && r.Version.RoomIDIsCreateEventID() {
		r.ID = id.RoomID("!" + string(eventID)[1:])
	}
	e := &Event{
		ID: eventID, RoomID: r.ID, Type: p.Type, StateKey: p.StateKey, Sender: p.Sender, TS: ev.OriginServerTS,
		TxnDevice: string(p.TxnDevice), TxnID: p.TxnID, PDU: ev,
	}
	e.PDU.InternalMeta.EventID = eventID
	if p.Type == event.StateMember.Type && p.StateKey != nil {
		e.Membership = gjson.GetBytes(p.Content, "membership").Str
	}
	if rel := gjson.GetBytes(p.Content, `m\.relates_to`); rel.IsObject() {
		e.RelatesTo = rel.Get("event_id").Str
		e.RelType = rel.Get("rel_type").Str
		if e.RelType == "" && rel.Get(`m\.in_reply_to.event_id`).Exists() {
			e.RelatesTo = ""
		}
		if strings.ContainsRune(e.RelatesTo+e.RelType, 0) {
			// Not a real relation, and PostgreSQL text cannot hold NUL.
			e.RelatesTo, e.RelType = "", ""
		}
	}
	if p.StateKey != nil {
		if prev := current[pdu.StateKey{Type: p.Type, StateKey: *p.StateKey}]; prev != nil {
			e.ReplacesState = string(prev.ID)
		}
	}
	pos, err := stream.Allocate(ctx, tx)
	if err != nil {
		return nil, err
	}
	e.Pos = pos
	if _, err := tx.ExecContext(ctx, `INSERT INTO events (stream_pos, event_id, room_id, type, state_key, sender,
		origin_server_ts, depth, pdu, membership, replaces_state, relates_to, rel_type, txn_device, txn_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
		pos, string(eventID), string(r.ID), p.Type, nullable(p.StateKey), string(p.Sender), ev.OriginServerTS, ev.Depth,
		string(raw), nullStr(e.Membership), nullStr(e.ReplacesState), nullStr(e.RelatesTo), nullStr(e.RelType),
		nullStr(e.TxnDevice), nullStr(e.TxnID)); err != nil {
		return nil, fmt.Errorf("insert event: %w", err)
	}
	if s.observer != nil {
		if err := s.observer.EventAppended(ctx, tx, r.ID, eventID, p.Sender, p.Type, p.StateKey, p.Content); err != nil {
			return nil, err
		}
	}
	if err := s.auditEvent(ctx, tx, r, p, e); err != nil {
		return nil, err
	}
	if p.StateKey != nil {
		if _, err := tx.ExecContext(ctx, `INSERT INTO current_state (room_id, type, state_key, event_id, stream_pos, membership)
			VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (room_id, type, state_key) DO UPDATE SET event_id = excluded.event_id,
				stream_pos = excluded.stream_pos, membership = excluded.membership`,
			string(r.ID), p.Type, *p.StateKey, string(eventID), pos, nullStr(e.Membership)); err != nil {
			return nil, fmt.Errorf("update current state: %w", err)
		}
		if e.Membership != "" {
			if _, err := tx.ExecContext(ctx, `INSERT INTO membership_log (room_id, user_id, membership, stream_pos, event_id)
				VALUES ($1, $2, $3, $4, $5)`, string(r.ID), *p.StateKey, e.Membership, pos, string(eventID)); err != nil {
				return nil, fmt.Errorf("log membership: %w", err)
			}
			if r.members != nil {
				if e.Membership == "join" || e.Membership == "invite" {
					r.members[*p.StateKey] = e.Membership
				} else {
					delete(r.members, *p.StateKey)
				}
			}
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE rooms SET last_event_id = $1, depth = $2 WHERE room_id = $3`,
		string(eventID), ev.Depth, string(r.ID)); err != nil {
		return nil, fmt.Errorf("update room: %w", err)
	}
	r.LastEventID = eventID
	r.Depth = ev.Depth
	return e, nil
}

func nullable(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}

func nullStr(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// interestedUsers lists who must be woken after an event in a room: joined
// and invited members, plus the target of a membership event.
func interestedUsers(ctx context.Context, q db.Querier, roomID id.RoomID, extra ...string) ([]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT state_key FROM current_state WHERE room_id = $1 AND type = 'm.room.member'
		AND membership IN ('join', 'invite')`, string(roomID))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	users := append([]string(nil), extra...)
	for rows.Next() {
		var u string
		if err := rows.Scan(&u); err != nil {
			return nil, err
		}
		users = append(users, u)
	}
	return users, rows.Err()
}

// commitAndWake runs fn in a write transaction; after commit it wakes the
// members of the rooms fn touched (and any extra users fn named).
func (s *Service) commitAndWake(ctx context.Context, fn func(tx *sql.Tx, wake *wakeList) error) error {
	var wl wakeList
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		wl = wakeList{}
		if err := fn(tx, &wl); err != nil {
			return err
		}
		for room, row := range wl.rooms {
			if row != nil {
				m, err := row.memberships(ctx, tx)
				if err != nil {
					return err
				}
				for u := range m {
					wl.users = append(wl.users, u)
				}
				continue
			}
			users, err := interestedUsers(ctx, tx, room)
			if err != nil {
				return err
			}
			wl.users = append(wl.users, users...)
		}
		return nil
	})
	if err != nil {
		return s.recordRefusal(ctx, err)
	}
	s.notifier.Wake(wl.users...)
	return nil
}

// wakeList collects who to wake after a commit.
type wakeList struct {
	// rooms whose members to wake; a room appended to carries its row, whose
	// member list the transaction may already have read.
	rooms map[id.RoomID]*roomRow
	users []string
}

func (w *wakeList) room(r id.RoomID) {
	if w.rooms == nil {
		w.rooms = make(map[id.RoomID]*roomRow)
	}
	if _, ok := w.rooms[r]; !ok {
		w.rooms[r] = nil
	}
}

// roomRow is room for a room appended to in this transaction.
func (w *wakeList) roomRow(r *roomRow) {
	if w.rooms == nil {
		w.rooms = make(map[id.RoomID]*roomRow)
	}
	w.rooms[r.ID] = r
}

func (w *wakeList) user(u ...string) { w.users = append(w.users, u...) }
