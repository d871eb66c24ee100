package matrixid

import (
	"testing"

	"maunium.net/go/mautrix/id"
)

// Spec: appendices "User Identifiers" (and "Historical User IDs", which
// clients may still send: printable ASCII other than ':').
func TestCheckUserID(t *testing.T) {
	for u, ok := range map[id.UserID]bool{
		"@alice:ward.test":         true,
		"@a.b_c=d-e/f+g:ward.test": true,
		"@Historic!Name:ward.test": true,
		"@alice:ward.test:8448":    true,
		"@:localhost":              false,
		"@:ward.test":              false,
		"alice:ward.test":          false,
		"@alice":                   false,
		"@alice:":                  false,
		"@al ice:ward.test":        false,
		"@alïce:ward.test":         false,
		"@al\x00ice:ward.test":     false,
		"@alice:bad server":        false,
		"":                         false,
	} {
		if err := CheckUserID(u); (err == nil) != ok {
			t.Errorf("CheckUserID(%q) = %v, want ok %v", u, err, ok)
		}
	}
}
