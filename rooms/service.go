// Package rooms owns rooms and their events: building PDUs with mautrix
// federation/pdu, authorising them with federation/eventauth against current
// state, persisting event, state and stream position in one transaction,
// membership, history visibility, redaction, aliases, receipts and typing.
// It never looks inside the content of an m.room.encrypted event.
package rooms

// Service is the rooms domain.
type Service struct{}
