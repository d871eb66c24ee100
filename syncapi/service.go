// Package syncapi assembles /sync from the streams of rooms, accounts (and
// later e2ee and push), and parks long-polling requests on the notifier
// until there is something for them. It owns no tables of its own except
// filters' parsing.
package syncapi

// Service answers /sync.
type Service struct{}
