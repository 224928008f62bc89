package agent

import (
	"strings"
	"testing"
)

func TestTail(t *testing.T) {
	cases := []struct {
		in   string
		n    int
		want string
	}{
		{"a\nb\nc\n", 0, "a\nb\nc\n"},
		{"a\nb\nc\n", 1, "c\n"},
		{"a\nb\nc\n", 2, "b\nc\n"},
		{"a\nb\nc\n", 3, "a\nb\nc\n"},
		{"a\nb\nc\n", 10, "a\nb\nc\n"},
		{"a\nb\nc", 1, "c"},
		{"", 5, ""},
		{"\n\n", 1, "\n"},
	}
	for _, c := range cases {
		if got := tail(c.in, c.n); got != c.want {
			t.Errorf("tail(%q, %d) = %q, want %q", c.in, c.n, got, c.want)
		}
	}
}

// FuzzTail checks tail's contract: a suffix of the input with at most n
// lines (all of it when n <= 0).
func FuzzTail(f *testing.F) {
	f.Add("line1\nline2\n", 1)
	f.Add("no newline", 3)
	f.Fuzz(func(t *testing.T, s string, n int) {
		got := tail(s, n)
		if !strings.HasSuffix(s, got) {
			t.Fatalf("tail(%q, %d) = %q is not a suffix", s, n, got)
		}
		if n <= 0 {
			if got != s {
				t.Fatalf("tail(%q, %d) = %q, want all", s, n, got)
			}
			return
		}
		if lines := strings.Count(strings.TrimSuffix(got, "\n"), "\n") + 1; lines > n && got != "" {
			t.Fatalf("tail(%q, %d) = %q has %d lines", s, n, got, lines)
		}
	})
}
