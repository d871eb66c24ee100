package clientapi

import (
	"net/http"

	"github.com/gorilla/mux"
)

// roomRoutes registers room creation, membership, state, sending, reading
// history, aliases and the directory.
func (a *API) roomRoutes(r *mux.Router) {
	// Creation and membership.
	r.HandleFunc("/createRoom", a.auth(a.checkedVars(a.handleCreateRoom))).Methods(http.MethodPost)
	r.HandleFunc("/join/{roomIdOrAlias}", a.auth(a.checkedVars(a.handleJoin))).Methods(http.MethodPost)
	r.HandleFunc("/rooms/{roomId}/join", a.auth(a.checkedVars(a.handleJoin))).Methods(http.MethodPost)
	r.HandleFunc("/rooms/{roomId}/invite", a.auth(a.checkedVars(a.handleInvite))).Methods(http.MethodPost)
	r.HandleFunc("/rooms/{roomId}/leave", a.auth(a.checkedVars(a.handleLeave))).Methods(http.MethodPost)
	r.HandleFunc("/rooms/{roomId}/forget", a.auth(a.checkedVars(a.handleForget))).Methods(http.MethodPost)
	r.HandleFunc("/rooms/{roomId}/kick", a.auth(a.checkedVars(a.handleKick))).Methods(http.MethodPost)
	r.HandleFunc("/rooms/{roomId}/ban", a.auth(a.checkedVars(a.handleBan))).Methods(http.MethodPost)
	r.HandleFunc("/rooms/{roomId}/unban", a.auth(a.checkedVars(a.handleUnban))).Methods(http.MethodPost)
	r.HandleFunc("/joined_rooms", a.auth(a.checkedVars(a.handleJoinedRooms))).Methods(http.MethodGet)
	r.HandleFunc("/rooms/{roomId}/members", a.auth(a.checkedVars(a.handleMembers))).Methods(http.MethodGet)
	r.HandleFunc("/rooms/{roomId}/joined_members", a.auth(a.checkedVars(a.handleJoinedMembers))).Methods(http.MethodGet)

	// State, sending and redaction. A state key may be empty or hold "/".
	r.HandleFunc("/rooms/{roomId}/state", a.auth(a.checkedVars(a.handleState))).Methods(http.MethodGet)
	r.HandleFunc("/rooms/{roomId}/state/{eventType}", a.auth(a.checkedVars(a.handleStateEvent))).Methods(http.MethodGet)
	r.HandleFunc("/rooms/{roomId}/state/{eventType}/{stateKey:.*}", a.auth(a.checkedVars(a.handleStateEvent))).Methods(http.MethodGet)
	r.HandleFunc("/rooms/{roomId}/state/{eventType}", a.auth(a.checkedVars(a.handleSetState))).Methods(http.MethodPut)
	r.HandleFunc("/rooms/{roomId}/state/{eventType}/{stateKey:.*}", a.auth(a.checkedVars(a.handleSetState))).Methods(http.MethodPut)
	r.HandleFunc("/rooms/{roomId}/send/{eventType}/{txnId}", a.auth(a.checkedVars(a.handleSend))).Methods(http.MethodPut)
	r.HandleFunc("/rooms/{roomId}/redact/{eventId}/{txnId}", a.auth(a.checkedVars(a.handleRedact))).Methods(http.MethodPut)

	// Reading history.
	r.HandleFunc("/rooms/{roomId}/event/{eventId}", a.auth(a.checkedVars(a.handleEvent))).Methods(http.MethodGet)
	r.HandleFunc("/rooms/{roomId}/messages", a.auth(a.checkedVars(a.handleMessages))).Methods(http.MethodGet)
	r.HandleFunc("/rooms/{roomId}/context/{eventId}", a.auth(a.checkedVars(a.handleContext))).Methods(http.MethodGet)

	// Aliases and the public room directory.
	r.HandleFunc("/directory/room/{roomAlias}", a.auth(a.checkedVars(a.handleGetAlias))).Methods(http.MethodGet)
	r.HandleFunc("/directory/room/{roomAlias}", a.auth(a.checkedVars(a.handleSetAlias))).Methods(http.MethodPut)
	r.HandleFunc("/directory/room/{roomAlias}", a.auth(a.checkedVars(a.handleDeleteAlias))).Methods(http.MethodDelete)
	r.HandleFunc("/rooms/{roomId}/aliases", a.auth(a.checkedVars(a.handleAliases))).Methods(http.MethodGet)
	r.HandleFunc("/directory/list/room/{roomId}", a.optionalAuth(a.checkedVars(a.handleGetVisibility))).Methods(http.MethodGet)
	r.HandleFunc("/directory/list/room/{roomId}", a.auth(a.checkedVars(a.handleSetVisibility))).Methods(http.MethodPut)
	r.HandleFunc("/publicRooms", a.auth(a.checkedVars(a.handlePublicRooms))).Methods(http.MethodGet, http.MethodPost)
	r.HandleFunc("/rooms/{roomId}/timestamp_to_event", a.auth(a.notImplemented)).Methods(http.MethodGet)
}

// v1Routes registers the endpoints that live under /_matrix/client/v1.
func (a *API) v1Routes(r *mux.Router) {
	r.HandleFunc("/rooms/{roomId}/relations/{eventId}", a.auth(a.checkedVars(a.handleRelations))).Methods(http.MethodGet)
	r.HandleFunc("/rooms/{roomId}/relations/{eventId}/{relType}", a.auth(a.checkedVars(a.handleRelations))).Methods(http.MethodGet)
	r.HandleFunc("/rooms/{roomId}/relations/{eventId}/{relType}/{eventType}", a.auth(a.checkedVars(a.handleRelations))).Methods(http.MethodGet)
	r.HandleFunc("/rooms/{roomId}/threads", a.auth(a.notImplemented)).Methods(http.MethodGet)
	r.HandleFunc("/rooms/{roomId}/timestamp_to_event", a.auth(a.notImplemented)).Methods(http.MethodGet)
}
