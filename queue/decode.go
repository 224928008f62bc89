package queue

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// A hand-written decoder for envelopes: every RPC message is decoded at
// least once, on a fresh handler goroutine, where encoding/json's
// reflection and deep recursion (stack growth) cost more than the rest of
// the round trip. It accepts exactly RFC 8259 JSON, matches field names
// exactly (encoding/json also accepts other cases), keeps the last of
// duplicate fields, ignores unknown fields, treats null as absent, and
// replaces invalid UTF-8 in strings with U+FFFD byte by byte, as
// encoding/json does. FuzzDecodeEnvelope checks it.

var errSyntax = errors.New("invalid JSON")

type decoder struct {
	b []byte
	i int
}

func (d *decoder) fail(what string) error {
	if d.i >= len(d.b) {
		return fmt.Errorf("%w: unexpected end of input (%s)", errSyntax, what)
	}
	return fmt.Errorf("%w: unexpected %q at offset %d (%s)", errSyntax, d.b[d.i], d.i, what)
}

func (d *decoder) ws() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *decoder) peek() byte {
	if d.i < len(d.b) {
		return d.b[d.i]
	}
	return 0
}

func (d *decoder) expect(c byte) error {
	d.ws()
	if d.peek() != c {
		return d.fail("expected " + string(c))
	}
	d.i++
	return nil
}

// null consumes a null literal if there is one.
func (d *decoder) null() bool {
	d.ws()
	if len(d.b)-d.i >= 4 && string(d.b[d.i:d.i+4]) == "null" {
		d.i += 4
		return true
	}
	return false
}

// object calls field for each member of an object (or does nothing for
// null); field must consume the value.
func (d *decoder) object(field func(key string) error) error {
	if d.null() {
		return nil
	}
	if err := d.expect('{'); err != nil {
		return err
	}
	d.ws()
	if d.peek() == '}' {
		d.i++
		return nil
	}
	for {
		key, err := d.key()
		if err != nil {
			return err
		}
		if err := d.expect(':'); err != nil {
			return err
		}
		d.ws()
		if err := field(key); err != nil {
			return err
		}
		d.ws()
		switch d.peek() {
		case ',':
			d.i++
		case '}':
			d.i++
			return nil
		default:
			return d.fail("expected , or }")
		}
	}
}

// key decodes an object key (a string, never null).
func (d *decoder) key() (string, error) {
	d.ws()
	if d.peek() != '"' {
		return "", d.fail("expected a key")
	}
	return d.str()
}

// str decodes a string value; null gives "".
func (d *decoder) str() (string, error) {
	if d.null() {
		return "", nil
	}
	d.ws()
	if d.peek() != '"' {
		return "", d.fail("expected a string")
	}
	d.i++
	start := d.i
	// Fast path: no escapes, ASCII or valid UTF-8.
	for d.i < len(d.b) {
		c := d.b[d.i]
		if c == '"' {
			s := d.b[start:d.i]
			d.i++
			if utf8.Valid(s) {
				return string(s), nil
			}
			return string(appendValidUTF8(nil, s)), nil
		}
		if c == '\\' || c < 0x20 {
			break
		}
		d.i++
	}
	buf := make([]byte, 0, d.i-start+16)
	buf = appendValidUTF8(buf, d.b[start:d.i])
	for d.i < len(d.b) {
		c := d.b[d.i]
		switch {
		case c == '"':
			d.i++
			return string(buf), nil
		case c < 0x20:
			return "", d.fail("control character in string")
		case c == '\\':
			d.i++
			if d.i >= len(d.b) {
				return "", d.fail("escape")
			}
			e := d.b[d.i]
			d.i++
			switch e {
			case '"', '\\', '/':
				buf = append(buf, e)
			case 'b':
				buf = append(buf, '\b')
			case 'f':
				buf = append(buf, '\f')
			case 'n':
				buf = append(buf, '\n')
			case 'r':
				buf = append(buf, '\r')
			case 't':
				buf = append(buf, '\t')
			case 'u':
				r, ok := d.hex4()
				if !ok {
					return "", d.fail("bad \\u escape")
				}
				if utf16.IsSurrogate(r) {
					r2 := rune(-1)
					if len(d.b)-d.i >= 6 && d.b[d.i] == '\\' && d.b[d.i+1] == 'u' {
						save := d.i
						d.i += 2
						var ok2 bool
						if r2, ok2 = d.hex4(); !ok2 {
							return "", d.fail("bad \\u escape")
						}
						if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
							r = dec
						} else {
							d.i = save // not a pair: the second escape stands alone
							r = utf8.RuneError
						}
					} else {
						r = utf8.RuneError
					}
				}
				buf = utf8.AppendRune(buf, r)
			default:
				return "", d.fail("bad escape")
			}
		default:
			j := d.i
			for j < len(d.b) && d.b[j] != '"' && d.b[j] != '\\' && d.b[j] >= 0x20 {
				j++
			}
			buf = appendValidUTF8(buf, d.b[d.i:j])
			d.i = j
		}
	}
	return "", d.fail("unterminated string")
}

func (d *decoder) hex4() (rune, bool) {
	if len(d.b)-d.i < 4 {
		return 0, false
	}
	var r rune
	for _, c := range d.b[d.i : d.i+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	d.i += 4
	return r, true
}

// appendValidUTF8 appends s, replacing each invalid byte with U+FFFD.
func appendValidUTF8(buf, s []byte) []byte {
	for len(s) > 0 {
		r, size := utf8.DecodeRune(s)
		if r == utf8.RuneError && size == 1 {
			buf = append(buf, "\uFFFD"...)
		} else {
			buf = append(buf, s[:size]...)
		}
		s = s[size:]
	}
	return buf
}

// int64 decodes an integer; null gives 0.
func (d *decoder) int64() (int64, error) {
	if d.null() {
		return 0, nil
	}
	start := d.i
	if err := d.number(); err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(string(d.b[start:d.i]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %q is not an integer", errSyntax, d.b[start:d.i])
	}
	return n, nil
}

func (d *decoder) boolean() (bool, error) {
	if d.null() {
		return false, nil
	}
	switch {
	case len(d.b)-d.i >= 4 && string(d.b[d.i:d.i+4]) == "true":
		d.i += 4
		return true, nil
	case len(d.b)-d.i >= 5 && string(d.b[d.i:d.i+5]) == "false":
		d.i += 5
		return false, nil
	}
	return false, d.fail("expected a boolean")
}

// number consumes a JSON number.
func (d *decoder) number() error {
	if d.peek() == '-' {
		d.i++
	}
	switch c := d.peek(); {
	case c == '0':
		d.i++
	case c >= '1' && c <= '9':
		for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
			d.i++
		}
	default:
		return d.fail("expected a number")
	}
	if d.peek() == '.' {
		d.i++
		if c := d.peek(); c < '0' || c > '9' {
			return d.fail("expected a digit")
		}
		for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
			d.i++
		}
	}
	if c := d.peek(); c == 'e' || c == 'E' {
		d.i++
		if c := d.peek(); c == '+' || c == '-' {
			d.i++
		}
		if c := d.peek(); c < '0' || c > '9' {
			return d.fail("expected a digit")
		}
		for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
			d.i++
		}
	}
	return nil
}

// raw consumes any JSON value, validating it, and returns its bytes. It
// is iterative, so deeply nested arguments cost no stack.
func (d *decoder) raw() (json.RawMessage, error) {
	d.ws()
	start := d.i
	var stackBuf [32]byte
	stack := stackBuf[:0]
	for {
		// A value.
		d.ws()
		switch c := d.peek(); {
		case c == '{':
			d.i++
			d.ws()
			if d.peek() == '}' {
				d.i++
				break
			}
			stack = append(stack, '{')
			if _, err := d.key(); err != nil {
				return nil, err
			}
			if err := d.expect(':'); err != nil {
				return nil, err
			}
			continue
		case c == '[':
			d.i++
			d.ws()
			if d.peek() == ']' {
				d.i++
				break
			}
			stack = append(stack, '[')
			continue
		case c == '"':
			if err := d.skipString(); err != nil {
				return nil, err
			}
		case c == 't' && len(d.b)-d.i >= 4 && string(d.b[d.i:d.i+4]) == "true":
			d.i += 4
		case c == 'f' && len(d.b)-d.i >= 5 && string(d.b[d.i:d.i+5]) == "false":
			d.i += 5
		case c == 'n' && len(d.b)-d.i >= 4 && string(d.b[d.i:d.i+4]) == "null":
			d.i += 4
		case c == '-' || c >= '0' && c <= '9':
			if err := d.number(); err != nil {
				return nil, err
			}
		default:
			return nil, d.fail("expected a value")
		}
		// After a value: close containers or move to the next element.
		for {
			if len(stack) == 0 {
				return json.RawMessage(d.b[start:d.i]), nil
			}
			d.ws()
			top := stack[len(stack)-1]
			c := d.peek()
			if c == ',' {
				d.i++
				if top == '{' {
					if _, err := d.key(); err != nil {
						return nil, err
					}
					if err := d.expect(':'); err != nil {
						return nil, err
					}
				}
				break
			}
			if top == '{' && c == '}' || top == '[' && c == ']' {
				d.i++
				stack = stack[:len(stack)-1]
				continue
			}
			return nil, d.fail("expected , or a closing bracket")
		}
	}
}

// skipString validates and consumes a string without decoding it.
func (d *decoder) skipString() error {
	d.i++ // opening quote
	for d.i < len(d.b) {
		c := d.b[d.i]
		switch {
		case c == '"':
			d.i++
			return nil
		case c < 0x20:
			return d.fail("control character in string")
		case c == '\\':
			d.i++
			switch d.peek() {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				d.i++
			case 'u':
				d.i++
				if _, ok := d.hex4(); !ok {
					return d.fail("bad \\u escape")
				}
			default:
				return d.fail("bad escape")
			}
		default:
			d.i++
		}
	}
	return d.fail("unterminated string")
}

// decodeEnvelope fills e from data (syntax only; validate checks meaning).
func decodeEnvelope(data []byte, e *Envelope) error {
	d := decoder{b: data}
	err := d.object(func(key string) error {
		var err error
		switch key {
		case "v":
			var n int64
			n, err = d.int64()
			if err == nil && (n > 1<<31 || n < -1<<31) {
				err = fmt.Errorf("%w: format version out of range", errSyntax)
			}
			e.Format = int(n)
		case "kind":
			e.Kind, err = d.str()
			switch e.Kind { // share the constants' storage
			case KindCall:
				e.Kind = KindCall
			case KindCast:
				e.Kind = KindCast
			case KindReply:
				e.Kind = KindReply
			}
		case "id":
			e.ID, err = d.str()
		case "method":
			e.Method, err = d.str()
		case "version":
			e.Version, err = d.str()
		case "request_id":
			e.RequestID, err = d.str()
		case "reply_to":
			e.ReplyTo, err = d.str()
		case "correlation_id":
			e.CorrelationID, err = d.str()
		case "deadline":
			e.Deadline, err = d.int64()
		case "traceparent":
			e.TraceParent, err = d.str()
		case "tracestate":
			e.TraceState, err = d.str()
		case "args":
			e.Args, err = d.rawOrNil()
		case "result":
			e.Result, err = d.rawOrNil()
		case "context":
			if d.null() {
				e.Context = nil
				return nil
			}
			rc := new(RequestContext)
			err = d.object(func(key string) error {
				var err error
				switch key {
				case "user_id":
					rc.UserID, err = d.str()
				case "project_id":
					rc.ProjectID, err = d.str()
				case "is_admin":
					rc.IsAdmin, err = d.boolean()
				case "request_id":
					rc.RequestID, err = d.str()
				case "global_request_id":
					rc.GlobalRequestID, err = d.str()
				case "roles":
					rc.Roles, err = d.strings()
				default:
					_, err = d.raw()
				}
				return err
			})
			e.Context = rc
		case "error":
			if d.null() {
				e.Error = nil
				return nil
			}
			we := new(WireError)
			err = d.object(func(key string) error {
				var err error
				switch key {
				case "code":
					we.Code, err = d.str()
				case "message":
					we.Message, err = d.str()
				default:
					_, err = d.raw()
				}
				return err
			})
			e.Error = we
		default:
			_, err = d.raw()
		}
		return err
	})
	if err != nil {
		return err
	}
	d.ws()
	if d.i != len(d.b) {
		return d.fail("trailing data")
	}
	return nil
}

// rawOrNil is raw, except that null leaves the field empty (as absent).
func (d *decoder) rawOrNil() (json.RawMessage, error) {
	if d.null() {
		return nil, nil
	}
	return d.raw()
}

func (d *decoder) strings() ([]string, error) {
	if d.null() {
		return nil, nil
	}
	if err := d.expect('['); err != nil {
		return nil, err
	}
	out := []string{}
	d.ws()
	if d.peek() == ']' {
		d.i++
		return out, nil
	}
	for {
		s, err := d.str()
		if err != nil {
			return nil, err
		}
		out = append(out, s)
		d.ws()
		switch d.peek() {
		case ',':
			d.i++
		case ']':
			d.i++
			return out, nil
		default:
			return nil, d.fail("expected , or ]")
		}
	}
}
