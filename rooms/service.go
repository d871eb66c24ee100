// Package rooms owns rooms and their events: building PDUs with mautrix
// federation/pdu, authorising them with federation/eventauth against current
// state, persisting event, state and stream position in one transaction,
// membership, history visibility, redaction, aliases, receipts and typing.
// It never looks inside the content of an m.room.encrypted event.
package rooms

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"maunium.net/go/mautrix/id"

	"ward/internal/db"
	"ward/internal/stream"
)

// ProfileSource gives the display name and avatar a member event carries.
type ProfileSource interface {
	Profile(ctx context.Context, user id.UserID) (displayName, avatarURL string, err error)
}

// EventObserver is told of every event inside the transaction that appends
// it, and of every redaction inside the transaction that strips an event's
// content; an error aborts the write. The media package uses it to record
// which media an event references, and who vouches for the reference.
type EventObserver interface {
	EventAppended(ctx context.Context, tx *sql.Tx, roomID id.RoomID, eventID id.EventID, sender id.UserID, evType string, stateKey *string, content []byte) error
	// EventRedacted gets the content before and after the redaction.
	EventRedacted(ctx context.Context, tx *sql.Tx, roomID id.RoomID, eventID id.EventID, evType string, before, after []byte) error
}

// Service is the rooms domain.
type Service struct {
	db             *db.DB
	notifier       *stream.Notifier
	log            *slog.Logger
	serverName     string
	defaultVersion id.RoomVersion
	profiles       ProfileSource
	keyID          id.KeyID
	key            ed25519.PrivateKey
	typing         *typingState
	now            func() time.Time
	observer       EventObserver
	// gate is the clinic policy; nil when it is switched off.
	gate              Gate
	purposeType       string
	encryptScheduling bool
	// audit records every appended event; nil: no audit.
	audit Auditor
}

// Options configure the rooms service.
type Options struct {
	ServerName         string
	DefaultRoomVersion string
	Profiles           ProfileSource
	Log                *slog.Logger
	// Observer, when set, sees every appended event (see EventObserver).
	Observer EventObserver
	// Gate is the clinic policy (nil: plain Matrix behaviour).
	Gate Gate
	// PurposeEventType is the state event type that carries a room's
	// purpose (clinical or scheduling).
	PurposeEventType string
	// EncryptSchedulingRooms: scheduling rooms are encrypted from creation
	// too (clinical rooms always are while the policy is on).
	EncryptSchedulingRooms bool
	// Audit, when set, records every appended event in its transaction.
	Audit Auditor
}

// New loads (or, on first start, creates and stores) the server's event
// signing key and returns the rooms service.
func New(ctx context.Context, d *db.DB, n *stream.Notifier, opts Options) (*Service, error) {
	s := &Service{
		db: d, notifier: n, log: opts.Log, serverName: opts.ServerName,
		defaultVersion: id.RoomVersion(opts.DefaultRoomVersion), profiles: opts.Profiles,
		now: time.Now, observer: opts.Observer, gate: opts.Gate, purposeType: opts.PurposeEventType,
		encryptScheduling: opts.EncryptSchedulingRooms, audit: opts.Audit,
	}
	if s.purposeType == "" {
		s.purposeType = "org.ward.room.purpose"
	}
	s.typing = newTypingState(s.now)
	if err := s.loadSigningKey(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// loadSigningKey reads the server's ed25519 key, creating it once.
func (s *Service) loadSigningKey(ctx context.Context) error {
	var keyID string
	var seed []byte
	err := s.db.Read.QueryRowContext(ctx, `SELECT key_id, seed FROM server_keys ORDER BY created_ts LIMIT 1`).Scan(&keyID, &seed)
	if errors.Is(err, sql.ErrNoRows) {
		seed = make([]byte, ed25519.SeedSize)
		if _, err := rand.Read(seed); err != nil {
			return err
		}
		b := make([]byte, 4)
		_, _ = rand.Read(b)
		keyID = fmt.Sprintf("ed25519:w%x", b)
		err = s.db.Tx(ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO server_keys (key_id, seed, created_ts) VALUES ($1, $2, $3)`,
				keyID, seed, time.Now().UnixMilli())
			return err
		})
		if err != nil {
			return fmt.Errorf("store signing key: %w", err)
		}
		// Another instance may have won the race; read back whichever is first.
		return s.loadSigningKey(ctx)
	} else if err != nil {
		return fmt.Errorf("load signing key: %w", err)
	}
	s.keyID = id.KeyID(keyID)
	s.key = ed25519.NewKeyFromSeed(seed)
	return nil
}

// ServerName is the server part of local IDs.
func (s *Service) ServerName() string { return s.serverName }
