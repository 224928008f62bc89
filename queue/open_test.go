package queue

import (
	"context"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestURLMux(t *testing.T) {
	var m URLMux
	opener := URLOpenerFunc(func(ctx context.Context, u *url.URL) (*Transport, error) { return NewMem(MemConfig{}) })
	require.NoError(t, m.Register("x", opener))
	assert.ErrorIs(t, m.Register("x", opener), ErrDuplicate)
	assert.Equal(t, []string{"x"}, m.Schemes())
	tr, err := m.Open(context.Background(), "x://")
	require.NoError(t, err)
	require.NoError(t, tr.Close())
	_, err = m.Open(context.Background(), "nope://u:secret@h/")
	assert.ErrorIs(t, err, ErrUnknownScheme)
	assert.NotContains(t, err.Error(), "secret")

	d := DefaultURLMux()
	assert.Equal(t, []string{"amqp", "amqps", "mem"}, d.Schemes())
	assert.NotSame(t, d, DefaultURLMux(), "no shared global mux")
}

func TestOpenMem(t *testing.T) {
	tr, err := Open(context.Background(), "mem://")
	require.NoError(t, err)
	assert.Equal(t, "mem", tr.Scheme())
	assert.False(t, tr.Durable())
	require.NoError(t, tr.Close())
	require.NoError(t, tr.Close(), "idempotent")
	_, err = Open(context.Background(), "mem://host/path")
	assert.Error(t, err)
}

func TestOpenAMQPOptionsAndErrors(t *testing.T) {
	_, err := Open(context.Background(), "amqp://guest:pw@127.0.0.1:1/?pool=x")
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "pw@")
	_, err = Open(context.Background(), "amqp://guest:pw@127.0.0.1:1/?bogus=1")
	assert.ErrorContains(t, err, "bogus")

	assert.Error(t, AMQPConfig{}.Validate())
	assert.Error(t, AMQPConfig{URL: "http://x/"}.Validate())
	assert.Error(t, AMQPConfig{URL: "amqp://h/", Prefetch: -1}.Validate())
	assert.NoError(t, AMQPConfig{URL: "amqp://h/"}.Validate())
}

func TestRedactURL(t *testing.T) {
	assert.Equal(t, "amqp://guest:xxxxx@h:5672/", RedactURL("amqp://guest:secret@h:5672/"))
	assert.NotContains(t, RedactURL("amqp://guest:secret@[::1/"), "secret")
	assert.Equal(t, "mem://", RedactURL("mem://"))
}
