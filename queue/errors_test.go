package queue

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var errNotFound = errors.New("not found")

func TestErrorCodes(t *testing.T) {
	c := NewErrorCodes()
	require.NoError(t, c.Register("compute.not_found", errNotFound))
	assert.ErrorIs(t, c.Register("compute.not_found", errors.New("other")), ErrDuplicate)
	assert.ErrorIs(t, c.Register("other", errNotFound), ErrDuplicate)
	assert.Error(t, c.Register("", errNotFound))

	assert.Equal(t, "compute.not_found", c.Code(fmt.Errorf("instance x: %w", errNotFound)))
	assert.Equal(t, CodeUnknownMethod, c.Code(fmt.Errorf("x: %w", ErrUnknownMethod)))
	assert.Equal(t, "", c.Code(errors.New("plain")))
	// A forwarded remote error keeps its code.
	assert.Equal(t, "remote.code", c.Code(fmt.Errorf("forward: %w", &RemoteError{Code: "remote.code"})))

	err := c.Error("compute.not_found", "instance x: not found")
	assert.ErrorIs(t, err, errNotFound)
	var re *RemoteError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, "compute.not_found", re.Code)

	err = c.Error("nobody.knows", "?")
	assert.NotErrorIs(t, err, errNotFound)
	require.ErrorAs(t, err, &re)

	// A nil registry knows the built-in codes only.
	var none *ErrorCodes
	assert.ErrorIs(t, none.Error(CodeTimeout, "x"), ErrTimeout)
	assert.Equal(t, CodeRemotePanic, none.Code(ErrRemotePanic))
	assert.Equal(t, "", none.Code(errNotFound))
}

func TestVersionCompatible(t *testing.T) {
	for _, tc := range []struct {
		have, want string
		ok         bool
	}{
		{"6.5", "", true}, {"6.5", "6.0", true}, {"6.5", "6.5", true}, {"6.5", "6", true},
		{"6.5", "6.6", false}, {"6.5", "7.0", false}, {"6.5", "5.9", false},
		{"", "1.0", true}, {"", "1.1", false}, {"6.5", "x", false},
	} {
		assert.Equal(t, tc.ok, versionCompatible(tc.have, tc.want), "%+v", tc)
	}
}

func TestTopicKind(t *testing.T) {
	for topic, want := range map[string][3]any{
		"compute":                      {"", "compute", true},
		"compute.host1":                {"", "compute.host1", true},
		"reply_abc":                    {"", "reply_abc", false},
		"fanout:compute":               {"compute_fanout", "", false},
		"fanout:compute:id1":           {"compute_fanout", "compute_fanout_id1", false},
		"versioned_notifications.info": {"", "versioned_notifications.info", true},
	} {
		ex, q, durable := topicKind(topic)
		assert.Equal(t, want, [3]any{ex, q, durable}, topic)
	}
}
