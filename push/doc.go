// Package push owns push rules and pushers.
//
// Push rules: the server-default rules of the spec (built per user, since
// some name the user's ID) merged with the user's own rules and with their
// changes to the defaults (enabled, actions). The ruleset is kept as the
// user's global m.push_rules account data, written through accounts after
// every change, so that /sync delivers the whole current ruleset to every
// client, as the spec requires; there is no second copy to drift. Until a
// user changes a rule nothing is stored and the defaults are computed on
// demand: the server's wiring of /sync adds them (Content) to an initial
// sync, where clients look for them.
// The stored event is read back against the current defaults: a default
// rule's conditions and the set of default rules always come from the
// server, only enabled and actions from what was stored.
//
// Pushers: the HTTP pushers a user's devices registered, kept in the
// pushers table (one row per user, app ID and push key, remembering the
// device that set it).
//
// This package never contacts a push gateway yet: pushers are stored and
// listed, no notification is delivered, and no notification counts are
// computed. It must never log event content or push keys.
package push
