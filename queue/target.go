package queue

import (
	"fmt"
	"strconv"
	"strings"
)

// Target names where an RPC message goes, as oslo.messaging's Target does.
//
//   - Topic alone: any one server listening on the topic (competing
//     consumers, queue "<topic>").
//   - Topic and Server: that one server (queue "<topic>.<server>", for
//     example "compute.host1").
//   - Fanout: every server listening on the topic (Cast only).
//
// Version is the RPC API version the caller needs ("6.5"); empty means any.
// A server that implements version M.n accepts requests for M.0 to M.n.
type Target struct {
	Topic   string
	Server  string
	Fanout  bool
	Version string
}

// String returns a readable form such as "compute.host1@6.5".
func (t Target) String() string {
	s := t.Topic
	if t.Fanout {
		s += "(fanout)"
	} else if t.Server != "" {
		s += "." + t.Server
	}
	if t.Version != "" {
		s += "@" + t.Version
	}
	return s
}

// Validate reports whether the target can be sent to. Topic and Server may
// hold letters, digits, '-', '_' and '.'; Topic must not start with "reply_"
// (reserved for reply queues) and Version, when set, must be "major.minor".
func (t Target) Validate() error {
	if err := validName("topic", t.Topic); err != nil {
		return err
	}
	if strings.HasPrefix(t.Topic, replyPrefix) {
		return fmt.Errorf("%w: topic %q uses the reserved prefix %q", ErrInvalidTarget, t.Topic, replyPrefix)
	}
	if t.Server != "" {
		if err := validName("server", t.Server); err != nil {
			return err
		}
	}
	if t.Version != "" {
		if _, _, err := parseVersion(t.Version); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidTarget, err)
		}
	}
	return nil
}

// queueName is the queue (or fanout pseudo-topic) a message to t is
// published on.
func (t Target) queueName() string {
	switch {
	case t.Fanout:
		return fanoutPublishTopic(t.Topic)
	case t.Server != "":
		return t.Topic + "." + t.Server
	default:
		return t.Topic
	}
}

func validName(what, s string) error {
	if s == "" {
		return fmt.Errorf("%w: empty %s", ErrInvalidTarget, what)
	}
	if len(s) > 200 {
		return fmt.Errorf("%w: %s longer than 200 bytes", ErrInvalidTarget, what)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' {
			continue
		}
		return fmt.Errorf("%w: %s %q has a character other than letters, digits, '-', '_', '.'", ErrInvalidTarget, what, s)
	}
	return nil
}

// parseVersion parses "major.minor" (a bare "major" means minor 0).
func parseVersion(v string) (major, minor int, err error) {
	maj, min, found := strings.Cut(v, ".")
	major, err = strconv.Atoi(maj)
	if err != nil || major < 0 {
		return 0, 0, fmt.Errorf("bad RPC API version %q", v)
	}
	if found {
		minor, err = strconv.Atoi(min)
		if err != nil || minor < 0 {
			return 0, 0, fmt.Errorf("bad RPC API version %q", v)
		}
	}
	return major, minor, nil
}

// versionCompatible reports whether a server implementing have can serve a
// request for want (oslo.messaging's rule: same major, want minor <= have
// minor). An empty want is always compatible; an empty have means "1.0".
func versionCompatible(have, want string) bool {
	if want == "" {
		return true
	}
	if have == "" {
		have = "1.0"
	}
	hm, hn, err1 := parseVersion(have)
	wm, wn, err2 := parseVersion(want)
	if err1 != nil || err2 != nil {
		return false
	}
	return hm == wm && wn <= hn
}

// Names of queues and pseudo-topics shared by every backend.
//
// Work queues ("compute", "compute.host1", "versioned_notifications.info")
// are durable. "reply_<id>" queues and fanout queues are transient and go
// away when their consumer does. The Watermill topic "fanout:<topic>"
// publishes to the fanout exchange "<topic>_fanout"; subscribing to
// "fanout:<topic>:<id>" consumes from the queue "<topic>_fanout_<id>" bound to
// that exchange.
const (
	replyPrefix  = "reply_"
	fanoutPrefix = "fanout:"
)

func fanoutPublishTopic(topic string) string { return fanoutPrefix + topic }

func fanoutSubscribeTopic(topic, id string) string { return fanoutPrefix + topic + ":" + id }

// topicKind splits a Watermill topic used by this package into its AMQP-ish
// parts: the exchange to publish to or bind to ("" for the default exchange),
// the queue name ("" when publishing to a fanout exchange) and whether the
// queue is durable.
func topicKind(topic string) (exchange, queue string, durable bool) {
	if rest, ok := strings.CutPrefix(topic, fanoutPrefix); ok {
		t, id, hasID := strings.Cut(rest, ":")
		exchange = t + "_fanout"
		if hasID {
			queue = exchange + "_" + id
		}
		return exchange, queue, false
	}
	if strings.HasPrefix(topic, replyPrefix) {
		return "", topic, false
	}
	return "", topic, true
}
