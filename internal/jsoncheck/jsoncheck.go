// Package jsoncheck checks client JSON for what the storage and the event
// format cannot take, without ever echoing the content in an error: the
// errors name only the rule broken, since the content may be a patient's
// message.
package jsoncheck

import (
	"bytes"
	"encoding/json/jsontext"
	"errors"
	"io"
	"strconv"
	"strings"
)

// Rules say what to refuse.
type Rules struct {
	// NoNUL refuses U+0000 in any string or key (PostgreSQL text cannot
	// hold it).
	NoNUL bool
	// ValidStrings refuses strings that are not valid Unicode: raw bytes
	// that are not UTF-8 and \u escapes of a lone surrogate (U+D800 to
	// U+DFFF not forming a pair). A decoder would replace them with
	// U+FFFD, so what is stored would not be what the client sent.
	ValidStrings bool
	// Canonical refuses what Matrix canonical JSON cannot represent:
	// duplicate keys, invalid strings (as ValidStrings), and numbers that
	// are not integers in [-(2^53)+1, (2^53)-1] (spec: appendices,
	// "Canonical JSON"; room versions 6 and later).
	Canonical bool
}

var (
	ErrNUL       = errors.New("strings must not contain the NUL character (U+0000)")
	ErrDuplicate = errors.New("an object has the same key twice")
	ErrString    = errors.New("a string is not valid Unicode (for example a lone surrogate)")
	ErrNumber    = errors.New("numbers must be integers between -(2^53)+1 and (2^53)-1; fractions and exponents are not allowed")
	ErrSyntax    = errors.New("not valid JSON")
)

const maxSafe = 1<<53 - 1

// Check walks b and reports the first rule it breaks.
func Check(b []byte, r Rules) error {
	dec := jsontext.NewDecoder(bytes.NewReader(b),
		jsontext.AllowDuplicateNames(!r.Canonical), jsontext.AllowInvalidUTF8(!r.Canonical && !r.ValidStrings))
	for {
		tok, err := dec.ReadToken()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			var se *jsontext.SyntacticError
			if errors.As(err, &se) {
				msg := se.Error()
				switch {
				case strings.Contains(msg, "duplicate"):
					return ErrDuplicate
				case strings.Contains(msg, "UTF-8") || strings.Contains(msg, "surrogate"):
					return ErrString
				}
			}
			return ErrSyntax
		}
		switch tok.Kind() {
		case '"':
			if r.NoNUL && strings.IndexByte(tok.String(), 0) >= 0 {
				return ErrNUL
			}
		case '0':
			if r.Canonical {
				raw := tok.String()
				if strings.ContainsAny(raw, ".eE") {
					return ErrNumber
				}
				n, err := strconv.ParseInt(raw, 10, 64)
				if err != nil || n > maxSafe || n < -maxSafe {
					return ErrNumber
				}
			}
		}
	}
}
