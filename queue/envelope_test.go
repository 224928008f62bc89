package queue

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func sampleEnvelope() *Envelope {
	return &Envelope{
		Format: EnvelopeFormat, Kind: KindCall, ID: "id-1", Method: "select_destinations", Version: "4.5",
		RequestID: "req-1", ReplyTo: "reply_x", Deadline: 1700000000123456789,
		TraceParent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", TraceState: "a=b",
		Context: &RequestContext{UserID: "u", ProjectID: "p", Roles: []string{"admin", "r\"x"}, IsAdmin: true,
			RequestID: "req-1", GlobalRequestID: "g"},
		Args: json.RawMessage(`{"spec":{"num_instances":1}}`),
	}
}

func TestEnvelopeRoundTrip(t *testing.T) {
	for _, e := range []*Envelope{
		sampleEnvelope(),
		{Format: 1, Kind: KindCast, ID: "c", Method: "m"},
		{Format: 1, Kind: KindReply, ID: "r", CorrelationID: "id-1", Result: json.RawMessage(`[1,2]`)},
		{Format: 1, Kind: KindReply, ID: "r", CorrelationID: "id-1", Error: &WireError{Code: "x.y", Message: "boom \u2028 \x01 \xff"}},
	} {
		b, err := e.MarshalJSON()
		require.NoError(t, err)
		require.True(t, json.Valid(b), "%s", b)
		got, err := DecodeEnvelope(b)
		require.NoError(t, err, "%s", b)
		if e.Error != nil {
			// Invalid UTF-8 is replaced, as encoding/json does.
			want := *e.Error
			want.Message = strings.ToValidUTF8(want.Message, "\ufffd")
			assert.Equal(t, want, *got.Error)
			continue
		}
		assert.Equal(t, e, got)
	}
}

// TestEnvelopeEncoderMatchesEncodingJSON: the hand-written encoder and
// encoding/json agree on what the document means.
func TestEnvelopeEncoderMatchesEncodingJSON(t *testing.T) {
	e := sampleEnvelope()
	ours, err := e.MarshalJSON()
	require.NoError(t, err)
	type plain Envelope // no MarshalJSON method
	theirs, err := json.Marshal((*plain)(e))
	require.NoError(t, err)
	var a, b map[string]any
	require.NoError(t, json.Unmarshal(ours, &a))
	require.NoError(t, json.Unmarshal(theirs, &b))
	assert.Equal(t, b, a)
}

func TestDecodeEnvelopeRejects(t *testing.T) {
	for name, doc := range map[string]string{
		"not json":       `{`,
		"no format":      `{"kind":"cast","id":"1","method":"m"}`,
		"newer format":   `{"v":2,"kind":"cast","id":"1","method":"m"}`,
		"no id":          `{"v":1,"kind":"cast","method":"m"}`,
		"unknown kind":   `{"v":1,"kind":"shout","id":"1","method":"m"}`,
		"call no reply":  `{"v":1,"kind":"call","id":"1","method":"m"}`,
		"cast no method": `{"v":1,"kind":"cast","id":"1"}`,
		"bad version":    `{"v":1,"kind":"cast","id":"1","method":"m","version":"six"}`,
		"reply no corr":  `{"v":1,"kind":"reply","id":"1"}`,
		"error in cast":  `{"v":1,"kind":"cast","id":"1","method":"m","error":{"message":"x"}}`,
		"neg deadline":   `{"v":1,"kind":"cast","id":"1","method":"m","deadline":-5}`,
	} {
		_, err := DecodeEnvelope([]byte(doc))
		assert.ErrorIs(t, err, ErrBadMessage, name)
	}
	// Unknown fields are ignored (format 1 can grow).
	_, err := DecodeEnvelope([]byte(`{"v":1,"kind":"cast","id":"1","method":"m","future":{"x":[1]}}`))
	assert.NoError(t, err)
}

// FuzzDecodeEnvelope: DecodeEnvelope never panics, accepts only valid JSON
// (encoding/json is the reference), and whatever it accepts re-encodes to a
// document it decodes to the same envelope.
func FuzzDecodeEnvelope(f *testing.F) {
	b, _ := sampleEnvelope().MarshalJSON()
	f.Add(b)
	f.Add([]byte(`{"v":1,"kind":"reply","id":"r","correlation_id":"c","error":{"code":"a","message":"\ud83d\ude00"}}`))
	f.Add([]byte(`{"v":1,"kind":"cast","id":"1","method":"m","args":null}`))
	f.Add([]byte(`{"v":1,"kind":"cast","id":"1","method":"m","args":"\u0000"}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"v":1,"kind":"cast","id":"1","method":"m","args":[{"a":[1,-2.5e3,true,null,"\u00e9\ud83d\ude00"]},{}],"x":[]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := DecodeEnvelope(data)
		if err == nil && !json.Valid(data) {
			t.Fatalf("accepted invalid JSON: %q", data)
		}
		if err != nil {
			if !errors.Is(err, ErrBadMessage) {
				t.Fatalf("error does not wrap ErrBadMessage: %v", err)
			}
			return
		}
		out, err := e.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		if !json.Valid(out) {
			t.Fatalf("re-encoded envelope is not valid JSON: %q", out)
		}
		e2, err := DecodeEnvelope(out)
		if err != nil {
			t.Fatalf("re-encoded envelope does not decode: %v\n%s", err, out)
		}
		normalize := func(e *Envelope) {
			// An empty roles list is omitted when encoding.
			if e.Context != nil && len(e.Context.Roles) == 0 {
				e.Context.Roles = nil
			}
			if e.Error != nil && !utf8.ValidString(e.Error.Message) {
				e.Error.Message = strings.ToValidUTF8(e.Error.Message, "\ufffd")
			}
		}
		normalize(e)
		normalize(e2)
		if !reflect.DeepEqual(e, e2) {
			t.Fatalf("round trip changed the envelope:\n%#v\n%#v", e, e2)
		}
	})
}
