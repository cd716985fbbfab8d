package textguard

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/jarvis-core/jarvis/internal/fault"
)

// MaxDepth is how deeply a JSON body may nest: far beyond any real request,
// far below what would strain a recursive decoder.
const MaxDepth = 64

// JSON checks a JSON document in one pass without decoding it: every string
// (names and values) is valid UTF-8 with no NUL, neither raw nor as a
// \u0000 escape, and no lone UTF-16 surrogate escape (\ud800 without its
// pair decodes to U+FFFD in most decoders: the text stored would not be the
// text sent); raw control characters in strings, nesting beyond MaxDepth
// and a name twice in one object are refused too. Decoders keep the last
// of two equal names and checks may have read the first:
// {"input_tokens":1,"input_tokens":1000000000} must not pass as either.
// Names are compared as decoded ("a" and "\u0061" are one name). Malformed
// JSON outside strings is left to the decoder, which refuses it with its
// own message.
func JSON(b []byte) error {
	// frames are the open containers; an object's frame tracks whether the
	// next string is a name, and where its names start in names (a stack
	// shared by the open objects, so that the usual small object costs no
	// allocation). An object with more than smallObject names also keeps
	// them in a set, so that a huge one is not checked in quadratic time.
	type frame struct {
		object  bool
		wantKey bool
		start   int
		set     map[string]struct{}
	}
	const smallObject = 16
	var (
		frames []frame
		names  [][]byte
	)
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '{', '[':
			if len(frames) >= MaxDepth {
				return invalidBody(fmt.Sprintf("nests deeper than %d levels", MaxDepth))
			}
			frames = append(frames, frame{object: b[i] == '{', wantKey: b[i] == '{', start: len(names)})
		case '}', ']':
			if n := len(frames); n > 0 {
				names = names[:frames[n-1].start]
				frames = frames[:n-1]
			}
		case ',':
			if n := len(frames); n > 0 && frames[n-1].object {
				frames[n-1].wantKey = true
			}
		case '"':
			end, err := scanString(b, i+1)
			if err != nil {
				return err
			}
			if n := len(frames); n > 0 && frames[n-1].object && frames[n-1].wantKey && end < len(b) {
				f := &frames[n-1]
				f.wantKey = false
				if name, ok := decodeName(b[i : end+1]); ok {
					dup := false
					if f.set != nil {
						_, dup = f.set[string(name)]
						f.set[string(name)] = struct{}{}
					} else {
						for _, seen := range names[f.start:] {
							if dup = bytes.Equal(seen, name); dup {
								break
							}
						}
						names = append(names, name)
						if len(names)-f.start > smallObject {
							f.set = make(map[string]struct{}, 2*smallObject)
							for _, seen := range names[f.start:] {
								f.set[string(seen)] = struct{}{}
							}
						}
					}
					if dup {
						return invalidBody(fmt.Sprintf("names %s twice in one object", quoteName(string(name))))
					}
				}
			}
			i = end
		}
	}
	return nil
}

// decodeName is a quoted JSON name, already checked by scanString, as
// decoded. Names are nearly always plain (no escapes), and are then their
// own bytes, not copied; only escaped ones go through encoding/json, which
// would otherwise cost every JSON body's every name.
func decodeName(quoted []byte) ([]byte, bool) {
	inner := quoted[1 : len(quoted)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return inner, true
	}
	var name string
	if json.Unmarshal(quoted, &name) != nil {
		return nil, false
	}
	return []byte(name), true
}

// quoteName is a duplicated name as an error message shows it: quoted and
// cut to 64 bytes, so a huge name does not make a huge message.
func quoteName(name string) string {
	if len(name) > 64 {
		cut := 64
		for cut > 0 && !utf8.RuneStart(name[cut]) {
			cut--
		}
		name = name[:cut] + "…"
	}
	return strconv.Quote(name)
}

func invalidBody(reason string) error { return fault.InvalidField("body", reason) }

// scanString checks the string whose contents start at b[i] and returns the
// index of its closing quote (or len(b): an unterminated string is the
// decoder's to report).
func scanString(b []byte, i int) (int, error) {
	for i < len(b) {
		c := b[i]
		switch {
		case c == '"':
			return i, nil
		case c == '\\':
			if i+1 >= len(b) {
				return len(b), nil
			}
			if b[i+1] != 'u' {
				i += 2
				continue
			}
			r, ok := hex4(b, i+2)
			if !ok {
				return len(b), nil // malformed escape: the decoder refuses it
			}
			switch {
			case r == 0:
				return 0, invalidBody("text must not contain NUL characters (\\u0000)")
			case r >= 0xDC00 && r <= 0xDFFF:
				return 0, invalidBody("text must not contain a lone UTF-16 surrogate escape")
			case r >= 0xD800 && r <= 0xDBFF:
				if i+12 > len(b) || b[i+6] != '\\' || b[i+7] != 'u' {
					return 0, invalidBody("text must not contain a lone UTF-16 surrogate escape")
				}
				lo, ok := hex4(b, i+8)
				if !ok || lo < 0xDC00 || lo > 0xDFFF {
					return 0, invalidBody("text must not contain a lone UTF-16 surrogate escape")
				}
				i += 12
			default:
				i += 6
			}
		case c == 0:
			return 0, invalidBody("text must not contain NUL characters")
		case c < 0x20:
			return 0, invalidBody("text must not contain raw control characters; escape them")
		case c < utf8.RuneSelf:
			i++
		default:
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size <= 1 {
				return 0, invalidBody("text must be valid UTF-8")
			}
			i += size
		}
	}
	return len(b), nil
}

// hex4 reads four hex digits at b[i:].
func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	return r, true
}
