package queue

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"
)

// EnvelopeFormat is the envelope format version this package writes and the
// highest it reads. A newer format is rejected with [ErrBadMessage].
const EnvelopeFormat = 1

// Kinds of envelopes.
const (
	KindCall  = "call"
	KindCast  = "cast"
	KindReply = "reply"
)

// Envelope is the JSON document every RPC message carries as its payload:
//
//	{"v":1,"kind":"call","id":"<message id>","method":"select_destinations",
//	 "version":"4.5","request_id":"req-…","reply_to":"reply_<client id>",
//	 "deadline":<unix ns>,"traceparent":"…","tracestate":"…",
//	 "context":{"user_id":…,"project_id":…,"roles":[…],"is_admin":false,
//	            "request_id":…,"global_request_id":…},
//	 "args":{…}}
//
// and for replies
//
//	{"v":1,"kind":"reply","id":"…","correlation_id":"<call id>",
//	 "result":{…}} or {…,"error":{"code":"compute.not_found","message":"…"}}
//
// Args and Result are raw JSON, encoded once by the sender and decoded once
// into the handler's (or caller's) type. Unknown fields are ignored, so
// format 1 can grow optional fields.
type Envelope struct {
	Format        int             `json:"v"`
	Kind          string          `json:"kind"`
	ID            string          `json:"id"`
	Method        string          `json:"method,omitempty"`
	Version       string          `json:"version,omitempty"`
	RequestID     string          `json:"request_id,omitempty"`
	ReplyTo       string          `json:"reply_to,omitempty"`
	CorrelationID string          `json:"correlation_id,omitempty"`
	Deadline      int64           `json:"deadline,omitempty"` // unix nanoseconds; 0 = none
	TraceParent   string          `json:"traceparent,omitempty"`
	TraceState    string          `json:"tracestate,omitempty"`
	Context       *RequestContext `json:"context,omitempty"`
	Args          json.RawMessage `json:"args,omitempty"`
	Result        json.RawMessage `json:"result,omitempty"`
	Error         *WireError      `json:"error,omitempty"`
}

// WireError is an error as it travels in a reply.
type WireError struct {
	Code    string `json:"code,omitempty"`
	Message string `json:"message"`
}

// DeadlineTime returns the deadline as a time, and false when there is none.
func (e *Envelope) DeadlineTime() (time.Time, bool) {
	if e.Deadline == 0 {
		return time.Time{}, false
	}
	return time.Unix(0, e.Deadline), true
}

// DecodeEnvelope parses and validates an envelope. Errors wrap
// [ErrBadMessage]. It never panics, whatever data holds, and keeps no
// reference to data except through Args and Result, which alias it.
func DecodeEnvelope(data []byte) (*Envelope, error) {
	e := new(Envelope)
	if err := decodeEnvelope(data, e); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadMessage, err)
	}
	if err := e.validate(); err != nil {
		return nil, err
	}
	return e, nil
}

func (e *Envelope) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrBadMessage, fmt.Sprintf(format, args...))
	}
	switch {
	case e.Format < 1:
		return bad("missing envelope format version")
	case e.Format > EnvelopeFormat:
		return bad("envelope format %d is newer than %d", e.Format, EnvelopeFormat)
	case e.ID == "":
		return bad("missing message id")
	case e.Deadline < 0:
		return bad("negative deadline")
	}
	switch e.Kind {
	case KindCall:
		if e.ReplyTo == "" {
			return bad("call without reply_to")
		}
		fallthrough
	case KindCast:
		if e.Method == "" {
			return bad("%s without method", e.Kind)
		}
		if e.Version != "" {
			if _, _, err := parseVersion(e.Version); err != nil {
				return bad("%v", err)
			}
		}
	case KindReply:
		if e.CorrelationID == "" {
			return bad("reply without correlation_id")
		}
	default:
		return bad("unknown kind %q", e.Kind)
	}
	if e.Error != nil && e.Kind != KindReply {
		return bad("error in a %s", e.Kind)
	}
	return nil
}

// MarshalJSON encodes e. Args and Result are copied as they are (they must
// be valid JSON, as produced by encoding/json); everything else is escaped.
func (e *Envelope) MarshalJSON() ([]byte, error) {
	return e.appendJSON(make([]byte, 0, e.sizeHint())), nil
}

func (e *Envelope) sizeHint() int {
	return 160 + len(e.ID) + len(e.Method) + len(e.RequestID) + len(e.ReplyTo) + len(e.CorrelationID) +
		len(e.TraceParent) + len(e.TraceState) + len(e.Args) + len(e.Result)
}

// appendJSON is a hand-written encoder: envelopes are encoded on every
// message, and encoding/json would re-validate and copy the raw Args.
func (e *Envelope) appendJSON(b []byte) []byte {
	format := e.Format
	if format == 0 {
		format = EnvelopeFormat
	}
	b = append(b, `{"v":`...)
	b = strconv.AppendInt(b, int64(format), 10)
	b = appendField(b, "kind", e.Kind, true)
	b = appendField(b, "id", e.ID, true)
	b = appendField(b, "method", e.Method, false)
	b = appendField(b, "version", e.Version, false)
	b = appendField(b, "request_id", e.RequestID, false)
	b = appendField(b, "reply_to", e.ReplyTo, false)
	b = appendField(b, "correlation_id", e.CorrelationID, false)
	if e.Deadline != 0 {
		b = append(b, `,"deadline":`...)
		b = strconv.AppendInt(b, e.Deadline, 10)
	}
	b = appendField(b, "traceparent", e.TraceParent, false)
	b = appendField(b, "tracestate", e.TraceState, false)
	if c := e.Context; c != nil {
		b = append(b, `,"context":{"is_admin":`...)
		b = strconv.AppendBool(b, c.IsAdmin)
		b = appendField(b, "user_id", c.UserID, false)
		b = appendField(b, "project_id", c.ProjectID, false)
		if len(c.Roles) > 0 {
			b = append(b, `,"roles":[`...)
			for i, r := range c.Roles {
				if i > 0 {
					b = append(b, ',')
				}
				b = appendString(b, r)
			}
			b = append(b, ']')
		}
		b = appendField(b, "request_id", c.RequestID, false)
		b = appendField(b, "global_request_id", c.GlobalRequestID, false)
		b = append(b, '}')
	}
	if len(e.Args) > 0 {
		b = append(b, `,"args":`...)
		b = append(b, e.Args...)
	}
	if len(e.Result) > 0 {
		b = append(b, `,"result":`...)
		b = append(b, e.Result...)
	}
	if e.Error != nil {
		b = append(b, `,"error":{"message":`...)
		b = appendString(b, e.Error.Message)
		b = appendField(b, "code", e.Error.Code, false)
		b = append(b, '}')
	}
	return append(b, '}')
}

func appendField(b []byte, name, value string, always bool) []byte {
	if value == "" && !always {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return appendString(b, value)
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string, escaping as encoding/json does
// (HTML characters excepted) and replacing invalid UTF-8 with U+FFFD.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// marshalArgs encodes a Call/Cast argument or a reply. nil encodes to nothing
// (the field is omitted); a json.RawMessage is used as it is.
func marshalArgs(v any) (json.RawMessage, error) {
	switch v := v.(type) {
	case nil:
		return nil, nil
	case json.RawMessage:
		if !json.Valid(v) {
			return nil, errors.New("json.RawMessage argument is not valid JSON")
		}
		return v, nil
	}
	return json.Marshal(v)
}
