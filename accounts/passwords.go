package accounts

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
	"maunium.net/go/mautrix"
)

// Argon2id parameters: OWASP's minimum recommendation (19 MiB, 2 passes,
// 1 lane). Enough to make offline guessing costly, cheap enough that a
// login stays well under a tenth of a second and tests stay fast.
const (
	argonMemoryKiB = 19 * 1024
	argonTime      = 2
	argonThreads   = 1
	argonKeyLen    = 32
	argonSaltLen   = 16
)

// maxPasswordBytes bounds the work an attacker can make us hash.
const maxPasswordBytes = 512

// MinPasswordChars is the shortest password any account may be given,
// counted in characters (not bytes), whichever way it is set: registration,
// a password change, the admin APIs, shared-secret registration, a roster
// import or the command line.
const MinPasswordChars = 8

// CheckNewPassword says why password may not become an account's password,
// or nil: shorter than MinPasswordChars is 400 M_WEAK_PASSWORD (the error
// the spec lists for POST /register and POST /account/password); longer
// than maxPasswordBytes or holding NUL is 400 M_INVALID_PARAM. Every path
// that sets a password goes through it (hashNewPassword).
func CheckNewPassword(password string) error {
	if n := utf8.RuneCountInString(password); n < MinPasswordChars {
		return errWeakPassword.WithMessage("The password has %d characters: it needs at least %d", n, MinPasswordChars)
	}
	if len(password) > maxPasswordBytes {
		return mautrix.MInvalidParam.WithMessage("The password is longer than %d bytes", maxPasswordBytes)
	}
	if strings.ContainsRune(password, 0) {
		return mautrix.MInvalidParam.WithMessage("The password must not contain NUL characters")
	}
	return nil
}

// errWeakPassword is the spec's M_WEAK_PASSWORD (mautrix has no constant).
var errWeakPassword = mautrix.RespError{ErrCode: "M_WEAK_PASSWORD", StatusCode: 400}

// hashNewPassword checks a password that is about to be set and hashes it.
func hashNewPassword(password string) (string, error) {
	if err := CheckNewPassword(password); err != nil {
		return "", err
	}
	return hashPassword(password)
}

// hashPassword returns the PHC string of password:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>.
func hashPassword(password string) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemoryKiB, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemoryKiB, argonTime, argonThreads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

var errBadHash = errors.New("malformed password hash")

// checkPassword reports whether password matches the PHC string, comparing
// in constant time. The parameters come from the stored string, so hashes
// made with older parameters keep working.
func checkPassword(phc, password string) (bool, error) {
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, errBadHash
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, errBadHash
	}
	var mem, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &mem, &t, &p); err != nil || t == 0 || p == 0 || mem == 0 {
		return false, errBadHash
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return false, errBadHash
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil || len(want) == 0 {
		return false, errBadHash
	}
	got := argon2.IDKey([]byte(password), salt, t, mem, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// dummyHash is compared against when a login names no known user, so that
// the answer takes as long as for a real one and does not reveal which
// usernames exist.
var dummyHash = sync.OnceValue(func() string {
	h, err := hashPassword("ward-dummy-password")
	if err != nil {
		panic(err)
	}
	return h
})
