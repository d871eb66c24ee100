package rooms

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	jsonv2 "encoding/json/v2"
	"errors"
	"fmt"

	"github.com/tidwall/gjson"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"ward/internal/db"
)

// Send appends a message event (spec: PUT /rooms/{roomId}/send/{eventType}/{txnId}).
// A retry with the same device and transaction id returns the first event's
// id and creates nothing.
func (s *Service) Send(ctx context.Context, sender id.UserID, device id.DeviceID, roomID id.RoomID, evType string, content json.RawMessage, txnID string) (id.EventID, error) {
	if evType == event.EventRedaction.Type {
		redacts := id.EventID(gjson.GetBytes(content, "redacts").Str)
		if redacts == "" {
			return "", mautrix.MBadJSON.WithMessage("m.room.redaction needs content.redacts; use the /redact endpoint")
		}
		return s.Redact(ctx, sender, device, roomID, redacts, content, txnID)
	}
	if err := s.checkSend(ctx, sender, roomID, evType, false, content); err != nil {
		return "", err
	}
	return s.appendWithTxn(ctx, sender, device, roomID, proto{Type: evType, Sender: sender, Content: content,
		TxnDevice: device, TxnID: txnID, TxnScope: "send/" + string(roomID) + "/" + evType}, nil)
}

// appendWithTxn appends p unless the transaction was already used; after
// is called inside the transaction with the new event.
func (s *Service) appendWithTxn(ctx context.Context, sender id.UserID, device id.DeviceID, roomID id.RoomID, p proto, after func(tx *sql.Tx, r *roomRow, e *Event) error) (id.EventID, error) {
	// A retry is found before the write transaction, on the read pool, so
	// that the single committer spends no round trip on the usual case (a
	// new transaction id). Two copies of one request that race past this
	// check are told apart by the transaction id's unique key below.
	if p.TxnID != "" {
		if existing, err := s.txnEvent(ctx, s.db.Read, sender, device, p); err != nil || existing != "" {
			return existing, err
		}
	}
	var eventID id.EventID
	err := s.commitAndWake(ctx, func(tx *sql.Tx, wake *wakeList) error {
		r, err := s.lockRoom(ctx, tx, roomID)
		if errors.Is(err, errNoRoom) {
			return mautrix.MForbidden.WithMessage("You are not a member of this room")
		} else if err != nil {
			return err
		}
		e, err := s.appendEvent(ctx, tx, r, p)
		if err != nil {
			return err
		}
		if after != nil {
			if err := after(tx, r, e); err != nil {
				return err
			}
		}
		if p.TxnID != "" {
			if _, err := tx.ExecContext(ctx, `INSERT INTO txn_ids (user_id, device_id, txn_id, event_id, created_ts)
				VALUES ($1, $2, $3, $4, $5)`, string(sender), string(device), p.txnKey(), string(e.ID), s.now().UnixMilli()); err != nil {
				if db.IsUniqueViolation(err) {
					// The same request committed meanwhile: this copy's
					// event goes back with its savepoint.
					return errTxnTaken
				}
				return fmt.Errorf("record transaction: %w", err)
			}
		}
		eventID = e.ID
		wake.roomRow(r)
		return nil
	})
	if errors.Is(err, errTxnTaken) {
		// Tx returns once the batch that holds the first copy committed.
		existing, err := s.txnEvent(ctx, s.db.Read, sender, device, p)
		if err == nil && existing == "" {
			err = errors.New("transaction id taken, but its event is not found")
		}
		return existing, err
	}
	return eventID, err
}

// errTxnTaken means that another copy of the same request (device and
// transaction id) committed its event first.
var errTxnTaken = errors.New("transaction id already used")

// txnEvent returns the event a device's transaction created, "" if none.
func (s *Service) txnEvent(ctx context.Context, q db.Querier, sender id.UserID, device id.DeviceID, p proto) (id.EventID, error) {
	var existing string
	err := q.QueryRowContext(ctx, `SELECT event_id FROM txn_ids WHERE user_id = $1 AND device_id = $2 AND txn_id = $3`,
		string(sender), string(device), p.txnKey()).Scan(&existing)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read transaction: %w", err)
	}
	return id.EventID(existing), nil
}

// SendState sets a state event (spec: PUT /rooms/{roomId}/state/{eventType}/{stateKey}).
// Setting the same content again returns the current event's id.
func (s *Service) SendState(ctx context.Context, sender id.UserID, roomID id.RoomID, evType, stateKey string, content json.RawMessage) (id.EventID, error) {
	if evType == event.StateMember.Type {
		return s.sendMemberState(ctx, sender, roomID, stateKey, content)
	}
	if evType == event.StateCreate.Type {
		return "", mautrix.MForbidden.WithMessage("The create event cannot be replaced")
	}
	cur, err := currentStateEvent(ctx, s.db.Read, roomID, evType, stateKey)
	if err != nil {
		return "", err
	}
	if cur != nil && cur.Sender == sender && jsonEqual(cur.PDU.Content, content) {
		return cur.ID, nil
	}
	if evType == event.StateCanonicalAlias.Type {
		if err := s.checkCanonicalAlias(ctx, roomID, content); err != nil {
			return "", err
		}
	}
	if err := s.checkSend(ctx, sender, roomID, evType, true, content); err != nil {
		return "", err
	}
	return s.appendWithTxn(ctx, sender, "", roomID, proto{Type: evType, StateKey: strptr(stateKey), Sender: sender, Content: content}, nil)
}

// sendMemberState handles a raw m.room.member state PUT, which clients use
// for profile changes in a room; membership transitions go through the
// same auth rules as the dedicated endpoints.
func (s *Service) sendMemberState(ctx context.Context, sender id.UserID, roomID id.RoomID, stateKey string, content json.RawMessage) (id.EventID, error) {
	target := id.UserID(stateKey)
	if target.Homeserver() != s.serverName {
		return "", mautrix.MForbidden.WithMessage("Only local users can be members (this server does not federate)")
	}
	membership := gjson.GetBytes(content, "membership").Str
	// Only one's own join, knock or leave needs no joined membership.
	if target != sender || (membership != "join" && membership != "knock" && membership != "leave") {
		if err := s.requireJoined(ctx, sender, roomID); err != nil {
			return "", err
		}
	}
	if err := s.checkMembership(ctx, sender, target, roomID, membership); err != nil {
		return "", err
	}
	return s.appendWithTxn(ctx, sender, "", roomID, proto{Type: event.StateMember.Type, StateKey: strptr(stateKey),
		Sender: sender, Content: content}, func(tx *sql.Tx, r *roomRow, e *Event) error { return nil })
}

// checkCanonicalAlias refuses aliases that do not point to the room
// (spec: PUT state m.room.canonical_alias, M_BAD_ALIAS).
func (s *Service) checkCanonicalAlias(ctx context.Context, roomID id.RoomID, content json.RawMessage) error {
	var c struct {
		Alias      *id.RoomAlias  `json:"alias"`
		AltAliases []id.RoomAlias `json:"alt_aliases"`
	}
	if err := json.Unmarshal(content, &c); err != nil {
		return mautrix.MBadJSON.WithMessage("Invalid m.room.canonical_alias content")
	}
	aliases := c.AltAliases
	if c.Alias != nil && *c.Alias != "" {
		aliases = append(aliases, *c.Alias)
	}
	for _, a := range aliases {
		rid, err := s.LookupAlias(ctx, a)
		if err != nil || rid != roomID {
			return mautrix.RespError{ErrCode: "M_BAD_ALIAS", StatusCode: 400, Err: fmt.Sprintf("Alias %s does not point to this room", a)}
		}
	}
	return nil
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return bytes.Equal(a, b)
	}
	ja, _ := json.Marshal(x)
	jb, _ := json.Marshal(y)
	return bytes.Equal(ja, jb)
}

// Redact redacts an event (spec: PUT /rooms/{roomId}/redact/{eventId}/{txnId}).
// The original content is removed from storage per the room version's
// redaction algorithm: in a clinic a redaction must really delete.
func (s *Service) Redact(ctx context.Context, sender id.UserID, device id.DeviceID, roomID id.RoomID, target id.EventID, content json.RawMessage, txnID string) (id.EventID, error) {
	targetEv, err := s.eventInRoom(ctx, roomID, target)
	if err != nil {
		return "", err
	}
	if len(content) == 0 {
		content = json.RawMessage("{}")
	}
	var c map[string]any
	if err := json.Unmarshal(content, &c); err != nil || c == nil {
		return "", mautrix.MBadJSON.WithMessage("Redaction content must be a JSON object")
	}
	var version id.RoomVersion
	if err := s.db.Read.QueryRowContext(ctx, `SELECT room_version FROM rooms WHERE room_id = $1`, string(roomID)).Scan(&version); err != nil {
		return "", err
	}
	if version.RedactsInContent() {
		c["redacts"] = string(target)
	}
	// A redaction's reason is plaintext too.
	if err := s.checkSend(ctx, sender, roomID, event.EventRedaction.Type, false, mustJSON(c)); err != nil {
		return "", err
	}
	return s.appendWithTxn(ctx, sender, device, roomID, proto{Type: event.EventRedaction.Type, Sender: sender,
		Content: mustJSON(c), Redacts: target, TxnDevice: device, TxnID: txnID,
		TxnScope: "redact/" + string(roomID) + "/" + string(target)},
		func(tx *sql.Tx, r *roomRow, e *Event) error {
			if targetEv.Sender != sender {
				pl, err := s.powerLevels(ctx, tx, r)
				if err != nil {
					return err
				}
				if pl.GetUserLevel(sender) < pl.Redact() {
					return refusedByAuth(r, proto{Type: event.EventRedaction.Type, Sender: sender, TxnDevice: device, Redacts: target},
						mautrix.MForbidden.WithMessage("You may only redact your own events at your power level"))
				}
			}
			return s.applyRedaction(ctx, tx, r.Version, targetEv, e.ID)
		})
}

// applyRedaction strips the target's stored content and links the redaction.
func (s *Service) applyRedaction(ctx context.Context, tx *sql.Tx, version id.RoomVersion, target *Event, by id.EventID) error {
	if target.RedactedBy != "" {
		return nil
	}
	redacted := target.PDU.Clone().Redact(version)
	raw, err := jsonv2.Marshal(redacted)
	if err != nil {
		return err
	}
	if _, err = tx.ExecContext(ctx, `UPDATE events SET pdu = $1, redacted_by = $2 WHERE event_id = $3`,
		string(raw), string(by), string(target.ID)); err != nil {
		return err
	}
	if s.observer != nil {
		return s.observer.EventRedacted(ctx, tx, target.RoomID, target.ID, target.Type, target.PDU.Content, redacted.Content)
	}
	return nil
}

// powerLevels reads the room's current power levels.
func (s *Service) powerLevels(ctx context.Context, tx *sql.Tx, r *roomRow) (*event.PowerLevelsEventContent, error) {
	pl := &event.PowerLevelsEventContent{}
	ev, err := currentStateEvent(ctx, tx, r.ID, event.StatePowerLevels.Type, "")
	if err != nil {
		return nil, err
	}
	if ev != nil {
		if err := json.Unmarshal(ev.PDU.Content, pl); err != nil {
			return nil, fmt.Errorf("decode power levels: %w", err)
		}
	}
	if r.Version.PrivilegedRoomCreators() {
		create, err := eventsByID(ctx, tx, []id.EventID{id.EventID("$" + string(r.ID)[1:])})
		if err != nil {
			return nil, err
		}
		if c := create[id.EventID("$"+string(r.ID)[1:])]; c != nil {
			cc := &event.CreateEventContent{}
			_ = json.Unmarshal(c.PDU.Content, cc)
			cc.Creator = c.Sender
			pl.CreateEvent = &event.Event{Sender: c.Sender, Content: event.Content{Parsed: cc}}
		}
	}
	return pl, nil
}

// eventInRoom loads an event by id, checking it belongs to the room.
func (s *Service) eventInRoom(ctx context.Context, roomID id.RoomID, eid id.EventID) (*Event, error) {
	m, err := eventsByID(ctx, s.db.Read, []id.EventID{eid})
	if err != nil {
		return nil, err
	}
	e := m[eid]
	if e == nil || e.RoomID != roomID {
		return nil, mautrix.MNotFound.WithMessage("Event not found")
	}
	return e, nil
}
