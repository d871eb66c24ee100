// Package migrations holds Ward's SQL schema: one ordered set of numbered
// files per dialect (postgres/, sqlite/), embedded in the binary and applied
// at start-up by internal/db. A migration, once released, is never edited;
// a change is a new file in both folders.
package migrations

import "embed"

//go:embed postgres/*.sql sqlite/*.sql
var FS embed.FS
