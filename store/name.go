package store

import (
	"errors"
	"fmt"
	"unicode"
	"unicode/utf8"
)

// MaxFriendlyName is the longest friendly name of a bin or an account, in
// characters, as Twilio's.
const MaxFriendlyName = 64

// ErrBadFriendlyName: a friendly name CheckFriendlyName refuses. The error
// is a *FriendlyNameError, which says what is wrong.
var ErrBadFriendlyName = errors.New("store: bad friendly name")

// FriendlyNameError says what is wrong with a friendly name. It wraps
// ErrBadFriendlyName.
type FriendlyNameError struct {
	// Problem ends the sentence "The name …": what is wrong, where, and
	// what is allowed, such as "holds a line feed (U+000A) at character
	// 3; names cannot hold line breaks, tabs or other control characters".
	Problem string
}

func (e *FriendlyNameError) Error() string { return "store: friendly name " + e.Problem }

// Unwrap returns ErrBadFriendlyName.
func (e *FriendlyNameError) Unwrap() error { return ErrBadFriendlyName }

// CheckFriendlyName is the one rule for the friendly names of bins and
// accounts, for every way in: UTF-8 text of at most MaxFriendlyName
// characters, without control characters (C0, DEL and C1, so no NUL, tab,
// line feed, carriage return or escape) and without the Unicode line and
// paragraph separators. Any other character is allowed, and the empty
// name too; nothing is trimmed. It returns a *FriendlyNameError, or nil.
func CheckFriendlyName(name string) error {
	if !utf8.ValidString(name) {
		at := 0
		for i, r := range name {
			if r == utf8.RuneError {
				if _, size := utf8.DecodeRuneInString(name[i:]); size == 1 {
					at = i
					break
				}
			}
		}
		return &FriendlyNameError{fmt.Sprintf("is not UTF-8 text: byte %d is not part of a character; send UTF-8", at+1)}
	}
	if n := utf8.RuneCountInString(name); n > MaxFriendlyName {
		return &FriendlyNameError{fmt.Sprintf("is %d characters long; the limit is %d", n, MaxFriendlyName)}
	}
	char := 0
	for _, r := range name {
		char++
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return &FriendlyNameError{fmt.Sprintf("holds %s (U+%04X) at character %d; names cannot hold line breaks, tabs or other control characters",
				controlName(r), r, char)}
		}
	}
	return nil
}

// controlName names the characters CheckFriendlyName refuses.
func controlName(r rune) string {
	switch r {
	case 0:
		return "a NUL"
	case '\t':
		return "a tab"
	case '\n':
		return "a line feed"
	case '\r':
		return "a carriage return"
	case 0x1b:
		return "an escape"
	case 0x7f:
		return "a delete"
	case '\u2028':
		return "a line separator"
	case '\u2029':
		return "a paragraph separator"
	}
	return "a control character"
}

// checkName is CheckFriendlyName for a write: nil or an error naming what
// was written.
func checkName(what, name string) error {
	if err := CheckFriendlyName(name); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}
