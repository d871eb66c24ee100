package e2ee

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"

	"ward/internal/db"
	"ward/internal/matrixid"
	"ward/internal/stream"
)

const (
	// maxToDeviceTargets bounds the devices one sendToDevice reaches.
	maxToDeviceTargets = 10000
	// MaxToDevicePerSync is how many to-device messages one /sync carries.
	MaxToDevicePerSync = 100
)

// SendToDevice queues content for the named devices ("*" is every device
// of the user). Repeating a (sender, device, txnID) does nothing. Unknown
// users and devices are skipped, as the spec allows. With the clinic
// policy on, a request that names anyone the sender may not reach (an
// unknown user included) is refused as a whole, before anything is queued.
//
// Spec: client-server-api PUT /_matrix/client/v3/sendToDevice/{eventType}/{txnId}.
func (s *Service) SendToDevice(ctx context.Context, sender id.UserID, senderDevice id.DeviceID, eventType, txnID string,
	messages map[id.UserID]map[string]json.RawMessage) error {
	if eventType == "" || len(eventType) > 255 || txnID == "" || len(txnID) > 255 {
		return mautrix.MInvalidParam.WithMessage("Invalid event type or transaction ID")
	}
	n := 0
	for user, devs := range messages {
		if err := matrixid.CheckUserID(user); err != nil {
			return mautrix.MInvalidParam.WithMessage("Invalid user ID %q", user)
		}
		for _, c := range devs {
			if !isObject(c) {
				return mautrix.MBadJSON.WithMessage("Each message must be a JSON object")
			}
		}
		n += len(devs)
	}
	if n > maxToDeviceTargets {
		return mautrix.MInvalidParam.WithMessage("Too many devices in one request")
	}
	users := make([]id.UserID, 0, len(messages))
	for user := range messages {
		users = append(users, user)
	}
	if err := s.checkReach(ctx, sender, users, "send to-device "+eventType); err != nil {
		return err
	}
	var recipients []id.UserID
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, insertTxn(s.db.Dialect), sender, senderDevice, txnID, s.now().UnixMilli())
		if err != nil {
			return fmt.Errorf("record to-device transaction: %w", err)
		}
		if k, _ := res.RowsAffected(); k == 0 {
			return nil // a retry of a request already done
		}
		type target struct {
			user    id.UserID
			device  string
			content json.RawMessage
		}
		var targets []target
		for user, devs := range messages {
			if !s.isLocal(user) {
				continue
			}
			all, err := deviceIDs(ctx, tx, user)
			if err != nil {
				return err
			}
			seen := map[string]bool{}
			for dev, content := range devs {
				if dev == "*" {
					for _, d := range all {
						seen[d] = true
						targets = append(targets, target{user, d, content})
					}
				}
			}
			for dev, content := range devs {
				if dev == "*" || seen[dev] || !contains(all, dev) {
					continue
				}
				targets = append(targets, target{user, dev, content})
			}
		}
		if len(targets) == 0 {
			return nil
		}
		// One position for the request: it reaches each device once.
		pos, err := stream.Allocate(ctx, tx)
		if err != nil {
			return err
		}
		users := map[id.UserID]bool{}
		for _, t := range targets {
			if _, err := tx.ExecContext(ctx, `INSERT INTO e2ee_to_device (user_id, device_id, stream_pos, sender, type, content)
				VALUES ($1, $2, $3, $4, $5, $6)`, t.user, t.device, pos, sender, eventType, string(t.content)); err != nil {
				return fmt.Errorf("queue to-device message: %w", err)
			}
			users[t.user] = true
		}
		for u := range users {
			recipients = append(recipients, u)
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.wake(recipients...)
	return nil
}

func insertTxn(d db.Dialect) string {
	if d == db.Postgres {
		return `INSERT INTO e2ee_to_device_txns (sender, device_id, txn_id, created_ts) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`
	}
	return `INSERT OR IGNORE INTO e2ee_to_device_txns (sender, device_id, txn_id, created_ts) VALUES ($1, $2, $3, $4)`
}

func isObject(raw json.RawMessage) bool {
	var obj map[string]json.RawMessage
	return json.Unmarshal(raw, &obj) == nil && obj != nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// deviceIDs lists the devices that may receive user's to-device messages:
// their sessions and their dehydrated device (MSC3814), whose inbox the
// user's next login reads.
func deviceIDs(ctx context.Context, q db.Querier, user id.UserID) ([]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT device_id FROM devices WHERE user_id = $1
		UNION SELECT device_id FROM e2ee_dehydrated_devices WHERE user_id = $1`, user)
	if err != nil {
		return nil, fmt.Errorf("read devices: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var d string
		if err := rows.Scan(&d); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// ToDeviceEvent is a to-device message as /sync shows it.
type ToDeviceEvent struct {
	Type    string          `json:"type"`
	Sender  id.UserID       `json:"sender"`
	Content json.RawMessage `json:"content"`
}

// SyncData is what /sync shows of e2ee for one device.
type SyncData struct {
	// ToDevice holds the device's to-device messages (oldest first), at
	// most MaxToDevicePerSync of them: every message queued at or before
	// upto that the device has not acknowledged yet (see SyncData).
	ToDevice []ToDeviceEvent
	// ToDeviceMore is true when more messages are waiting than this
	// response carries. They need no special next_batch: they stay in the
	// inbox and come in the following syncs whatever their since.
	ToDeviceMore bool
	// ToDeviceUpto is the position of the last message carried (0 if none).
	ToDeviceUpto stream.Position
	// DeviceListsChanged and DeviceListsLeft are device_lists.changed and
	// .left; empty on an initial sync.
	DeviceListsChanged []id.UserID
	DeviceListsLeft    []id.UserID
	// OneTimeKeyCounts is device_one_time_keys_count.
	OneTimeKeyCounts map[string]int
	// UnusedFallbackKeyTypes is device_unused_fallback_key_types.
	UnusedFallbackKeyTypes []string
}

// SyncData returns the e2ee part of a /sync response for device, covering
// (since, upto]; since is 0 for an initial sync.
//
// To-device delivery: a message is delivered in every response built at or
// after its position until the device acknowledges it, which it does by
// syncing with a since at or past the upto of the first response that
// carried it; then it is deleted. A lost response is therefore repeated
// on the next sync with the same since. At most MaxToDevicePerSync
// messages are carried per response (oldest first); the rest stay
// queued and are carried by the next syncs without any cap on next_batch:
// unacknowledged messages are selected by their state, not by the since
// range. The caller must put the whole ToDevice list into the response
// whose next_batch is upto, and must not build a response without it when
// ToDevice is not empty.
//
// initial is true for a sync without a since token: it carries no
// device-list changes. A since of 0 is an incremental sync like any other
// (a brand-new server's first next_batch is s0_0).
func (s *Service) SyncData(ctx context.Context, user id.UserID, device id.DeviceID, since, upto stream.Position, initial bool) (*SyncData, error) {
	out := &SyncData{
		ToDevice:               []ToDeviceEvent{},
		DeviceListsChanged:     []id.UserID{},
		DeviceListsLeft:        []id.UserID{},
		OneTimeKeyCounts:       map[string]int{},
		UnusedFallbackKeyTypes: []string{},
	}
	if err := s.toDevice(ctx, user, device, since, upto, out); err != nil {
		return nil, err
	}
	if !initial && since < upto {
		var err error
		if out.DeviceListsChanged, out.DeviceListsLeft, err = s.deviceLists(ctx, user, since, upto); err != nil {
			return nil, err
		}
	}
	var err error
	if out.OneTimeKeyCounts, err = oneTimeKeyCounts(ctx, s.db.Read, user, device); err != nil {
		return nil, err
	}
	if out.UnusedFallbackKeyTypes, err = unusedFallbackTypes(ctx, s.db.Read, user, device); err != nil {
		return nil, err
	}
	return out, nil
}

func (s *Service) toDevice(ctx context.Context, user id.UserID, device id.DeviceID, since, upto stream.Position, out *SyncData) error {
	// Acknowledged messages: carried by a response whose next_batch the
	// device now syncs from.
	if since > 0 {
		var one int
		err := s.db.Read.QueryRowContext(ctx, `SELECT 1 FROM e2ee_to_device WHERE user_id = $1 AND device_id = $2
			AND sent_upto IS NOT NULL AND sent_upto <= $3 LIMIT 1`, user, device, since).Scan(&one)
		if err == nil {
			err = s.db.Tx(ctx, func(tx *sql.Tx) error {
				_, err := tx.ExecContext(ctx, `DELETE FROM e2ee_to_device WHERE user_id = $1 AND device_id = $2
					AND sent_upto IS NOT NULL AND sent_upto <= $3`, user, device, since)
				return err
			})
		}
		if err != nil && err != sql.ErrNoRows {
			return fmt.Errorf("acknowledge to-device messages: %w", err)
		}
	}
	rows, err := s.db.Read.QueryContext(ctx, `SELECT stream_pos, sender, type, content, sent_upto IS NULL FROM e2ee_to_device
		WHERE user_id = $1 AND device_id = $2 AND stream_pos <= $3 ORDER BY stream_pos LIMIT $4`,
		user, device, upto, MaxToDevicePerSync+1)
	if err != nil {
		return fmt.Errorf("read to-device messages: %w", err)
	}
	defer rows.Close()
	fresh := false
	for rows.Next() {
		var pos stream.Position
		var ev ToDeviceEvent
		var content string
		var unsent bool
		if err := rows.Scan(&pos, &ev.Sender, &ev.Type, &content, &unsent); err != nil {
			return err
		}
		if len(out.ToDevice) == MaxToDevicePerSync {
			out.ToDeviceMore = true
			break
		}
		ev.Content = json.RawMessage(content)
		out.ToDevice = append(out.ToDevice, ev)
		out.ToDeviceUpto = pos
		fresh = fresh || unsent
	}
	if err := rows.Err(); err != nil {
		return err
	}
	rows.Close()
	if fresh {
		err := s.db.Tx(ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `UPDATE e2ee_to_device SET sent_upto = $3
				WHERE user_id = $1 AND device_id = $2 AND stream_pos <= $4 AND sent_upto IS NULL`,
				user, device, upto, out.ToDeviceUpto)
			return err
		})
		if err != nil {
			return fmt.Errorf("mark to-device messages sent: %w", err)
		}
	}
	return nil
}
