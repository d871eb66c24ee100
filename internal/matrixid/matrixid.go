// Package matrixid checks the form of the Matrix identifiers clients send,
// in one place, so that every endpoint taking a user ID refuses the same
// malformed ones the same way.
package matrixid

import (
	"fmt"

	"maunium.net/go/mautrix/id"
)

// CheckUserID reports why u is not a user ID, or nil. A user ID is
// "@localpart:server_name", at most 255 bytes, with a valid server name and
// a localpart that is not empty and holds only the characters the spec
// allows even in historical user IDs (printable ASCII other than ':').
//
// Spec: appendices "User Identifiers" and "Historical User IDs".
func CheckUserID(u id.UserID) error {
	lp, _, err := u.ParseAndValidateRelaxed()
	if err != nil {
		return err
	}
	if lp == "" {
		return fmt.Errorf("%q has an empty localpart", u)
	}
	for i := 0; i < len(lp); i++ {
		if c := lp[i]; c < 0x21 || c > 0x7e {
			return fmt.Errorf("%q has a character the localpart of a user ID may not hold", u)
		}
	}
	return nil
}
