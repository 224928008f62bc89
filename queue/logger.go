package queue

import (
	"context"
	"log/slog"

	"github.com/ThreeDotsLabs/watermill"
)

// slogAdapter is Watermill's LoggerAdapter over slog that checks the level
// before converting fields: Watermill logs every message at trace level,
// and converting those fields on the hot path costs allocations even when
// nothing is logged. Watermill's info logs (connection and router life
// cycle) are mapped to debug; errors stay errors.
type slogAdapter struct {
	l *slog.Logger
}

var _ watermill.LoggerAdapter = slogAdapter{}

func (a slogAdapter) log(level slog.Level, msg string, err error, fields watermill.LogFields) {
	if !a.l.Enabled(context.Background(), level) {
		return
	}
	args := make([]any, 0, 2*len(fields)+2)
	if err != nil {
		args = append(args, "err", err)
	}
	for k, v := range fields {
		args = append(args, k, v)
	}
	a.l.Log(context.Background(), level, msg, args...)
}

func (a slogAdapter) Error(msg string, err error, fields watermill.LogFields) {
	a.log(slog.LevelError, msg, err, fields)
}

func (a slogAdapter) Info(msg string, fields watermill.LogFields) {
	a.log(slog.LevelDebug, msg, nil, fields)
}

func (a slogAdapter) Debug(msg string, fields watermill.LogFields) {
	a.log(slog.LevelDebug, msg, nil, fields)
}

func (a slogAdapter) Trace(msg string, fields watermill.LogFields) {
	a.log(watermill.LevelTrace, msg, nil, fields)
}

func (a slogAdapter) With(fields watermill.LogFields) watermill.LoggerAdapter {
	args := make([]any, 0, 2*len(fields))
	for k, v := range fields {
		args = append(args, k, v)
	}
	return slogAdapter{a.l.With(args...)}
}
