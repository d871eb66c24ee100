// Package audit owns the audit trail: an append-only, hash-chained record of
// who did what, when and from where — logins, sessions, registrations,
// password changes, devices, keys, rooms, every event sent, media, every
// policy denial, every admin action and every read of the trail itself.
//
// # What an entry holds, and what it never holds
//
// An Entry names the actor (user and device), the remote address and user
// agent, the action, its target (user, room, event id and type, media id,
// care team, token id), the outcome (allowed, denied, failed), the policy
// rule or reason, and the request id. It never holds message content, a
// token or a password: a token is named only by TokenID (a prefix of its
// SHA-256), and Detail carries identifiers and counts, never a body. Code
// that records an entry must keep it so; the tests grep the trail for the
// text, tokens and passwords a scripted session used.
//
// # Recipients of an event
//
// For every event sent the entry records the room, event id, type and
// sender, and in Detail the room's joined members at that point (before the
// event applies): recipient_count, stream_pos (the event's stream
// position) and recipients_sha256, the SHA-256 of the sorted member IDs
// joined by newlines. Up to MaxListedRecipients members are also listed in
// recipients. For larger rooms the list is reconstructed from the rooms
// package's membership_log (the last membership of each user below
// stream_pos) and checked against the count and the digest, which the hash
// chain protects.
//
// # Transactions and the chain
//
// Record writes an entry inside the caller's transaction: an action and its
// entry commit together or not at all. RecordAlone writes an entry in a
// transaction of its own, for what writes nothing else (denials, failed
// logins, reads). Appends take the single audit_head row in the writer's
// transaction — the same serialisation as the stream position — so entries
// are numbered and chained in commit order. Take it late in a transaction,
// after any stream position: the head lock is then always the last one
// taken, and two transactions never wait for each other in opposite order.
//
// Each entry's hash is SHA-256 over its canonical form (Canonical) and the
// previous entry's hash. Verify walks the chain and names the first entry
// that was altered, removed, inserted or reordered; a checkpoint (the head's
// sequence number and hash, kept elsewhere by the operator) lets a later
// Verify detect a truncated tail.
//
// # Retention
//
// Entries are only ever removed by Truncate: it appends a truncation entry
// signed with the server's ed25519 key (the server_keys table the rooms
// package writes; audit only reads it) naming the last removed entry and its
// hash, and deletes the older entries in the same transaction. Verify checks
// that the first remaining entry continues exactly where the latest signed
// truncation says the removed part ended.
//
// The package imports no other domain package; domains declare the small
// interface they call (Record, RecordAlone) and a nil one means no audit.
package audit
