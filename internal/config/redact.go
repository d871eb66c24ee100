package config

import (
	"net/url"
	"regexp"
	"strings"
)

// Redacted stands in for a secret in anything Ward prints.
const Redacted = "<redacted>"

var (
	// kvPassword is password=… in a key/value DSN: quoted (with backslash
	// escapes) or up to the next space.
	kvPassword = regexp.MustCompile(`(?i)(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'?|\S*)`)
	// queryPassword is password=… among a URL's query parameters.
	queryPassword = regexp.MustCompile(`(?i)([?&]password=)([^&#]*)`)
)

func isURLDSN(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// RedactDSN hides the password of a database setting: the userinfo
// password and a password= parameter of a postgres:// URL, or password=
// of a key/value DSN. Everything else (user, host, database) stays, so the
// printed setting still says where Ward connects. A SQLite path has no
// password and comes back unchanged.
func RedactDSN(dsn string) string {
	if isURLDSN(dsn) {
		scheme, rest, _ := strings.Cut(dsn, "://")
		// The last @ ends the userinfo even when the password holds an
		// unescaped @; over-masking is safe, under-masking is not.
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			if user, _, hasPW := strings.Cut(rest[:at], ":"); hasPW {
				rest = user + ":" + Redacted + rest[at:]
			}
		}
		return scheme + "://" + queryPassword.ReplaceAllString(rest, "${1}"+Redacted)
	}
	if strings.Contains(strings.ToLower(dsn), "password") && strings.Contains(dsn, "=") {
		return kvPassword.ReplaceAllString(dsn, "${1}"+Redacted)
	}
	return dsn
}

// dsnPasswords lists the passwords a database setting holds, as written
// and as they may appear decoded, so that they can be scrubbed from text.
func dsnPasswords(dsn string) []string {
	var out []string
	add := func(s string) {
		if s != "" {
			out = append(out, s)
			if u, err := url.PathUnescape(s); err == nil && u != s {
				out = append(out, u)
			}
		}
	}
	if isURLDSN(dsn) {
		_, rest, _ := strings.Cut(dsn, "://")
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			if _, pw, ok := strings.Cut(rest[:at], ":"); ok {
				add(pw)
			}
		}
		for _, m := range queryPassword.FindAllStringSubmatch(dsn, -1) {
			add(m[2])
		}
		return out
	}
	for _, m := range kvPassword.FindAllStringSubmatch(dsn, -1) {
		pw := m[2]
		if strings.HasPrefix(pw, "'") {
			pw = strings.TrimSuffix(strings.TrimPrefix(pw, "'"), "'")
			add(strings.NewReplacer(`\'`, `'`, `\\`, `\`).Replace(pw))
		}
		add(pw)
	}
	return out
}

// ScrubDSN returns err with the database password removed from its text,
// for errors (such as a driver's connection error) that may quote the
// setting. errors.Is and errors.As still see the original.
func ScrubDSN(err error, dsn string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	scrubbed := strings.ReplaceAll(msg, dsn, RedactDSN(dsn))
	for _, pw := range dsnPasswords(dsn) {
		scrubbed = strings.ReplaceAll(scrubbed, pw, Redacted)
	}
	if scrubbed == msg {
		return err
	}
	return scrubbedError{msg: scrubbed, err: err}
}

type scrubbedError struct {
	msg string
	err error
}

func (e scrubbedError) Error() string { return e.msg }
func (e scrubbedError) Unwrap() error { return e.err }
