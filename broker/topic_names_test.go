package broker

import (
	"strings"
	"testing"
)

func TestValidateTopicName(t *testing.T) {
	for _, ok := range []string{"a", "A-b_c.9", strings.Repeat("x", 249), "__consumer_offsets", "..."} {
		if err := validateTopicName(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", ".", "..", strings.Repeat("x", 250), "a b", "a/b", "ä", "a:b", "a\x00"} {
		if validateTopicName(bad) == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if autoCreatable("__x") || autoCreatable("a b") || !autoCreatable("orders") {
		t.Error("autoCreatable")
	}
	if !topicNameCollides("a.b", "a_b") || topicNameCollides("a.b", "a.b") || topicNameCollides("ab", "a_b") {
		t.Error("topicNameCollides")
	}
}
