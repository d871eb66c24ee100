// Package clientapi is Ward's HTTP surface: the router (routes.go lists
// every endpoint), middleware (request id, logging, CORS, body limits,
// authentication, panics) and handlers. A handler decodes the request, calls
// one domain method and encodes the answer; it holds no logic of its own.
//
// Errors: domain packages return mautrix.RespError values (errcode, status
// and a message safe to show) or plain errors; writeError turns the first
// into the Matrix error body and every other error into 500 M_UNKNOWN plus a
// log line, so a cause that might hold private data never reaches a client.
package clientapi
