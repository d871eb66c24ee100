// Package policy is the clinic's rulebook: users' roles, care teams and
// provider–patient assignments (the facts), and the decisions drawn from
// them about who may share a room with whom, invite, join, create rooms,
// send, search the directory and look up profiles.
//
// Decisions are pure functions over facts loaded beforehand (decide.go), so
// they are tested as tables without I/O. The Service loads facts from the
// database and answers the questions rooms, accounts and clientapi ask.
// The package never reads message content: what it may look at is an
// event's type, whether the room is encrypted, and the shape of an event
// in a clinical room (the names of its fields, so that nothing travels in
// the clear beside the ciphertext) — never what a ciphertext holds.
package policy
