package broker

import (
	"fmt"
	"strings"
)

// Kafka's topic-name rules (its Topic.validate), written from their
// description: a name is 1 to 249 characters of ASCII letters, digits, '.',
// '_' and '-', and is neither "." nor "..". The limit of 249 leaves room for
// the partition suffix and the ".deleted"-style renames Kafka applies to a
// partition directory name within the 255-byte file-name limit.
const maxTopicNameLen = 249

// validateTopicName returns nil for a legal topic name, or an error whose
// text is the message for INVALID_TOPIC_EXCEPTION.
func validateTopicName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("Topic name is illegal, it can't be empty")
	case name == "." || name == "..":
		return fmt.Errorf("Topic name cannot be \".\" or \"..\"")
	case len(name) > maxTopicNameLen:
		return fmt.Errorf("Topic name is illegal, it can't be longer than %d characters, topic name: %s", maxTopicNameLen, name)
	}
	for i := 0; i < len(name); i++ {
		if !legalTopicChar(name[i]) {
			return fmt.Errorf("Topic name %q is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'", name)
		}
	}
	return nil
}

func legalTopicChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
}

// Kafka's internal topics: group offsets and transaction state.
const (
	consumerOffsetsTopic  = "__consumer_offsets"
	transactionStateTopic = "__transaction_state"
)

// isInternalTopicName reports the names Kafka treats as internal.
func isInternalTopicName(name string) bool {
	return name == consumerOffsetsTopic || name == transactionStateTopic
}

// autoCreatable reports whether Metadata may create the topic on demand:
// legal names only, and nothing that looks internal (a leading "__"), since
// internal topics are created by their coordinators with their own
// partition counts and configs.
func autoCreatable(name string) bool {
	return validateTopicName(name) == nil && !strings.HasPrefix(name, "__")
}

// topicNameCollides reports whether two names differ only in '.' versus
// '_': Kafka warns about such names because metric names replace '.' with
// '_'. Runnel accepts them, as Kafka does.
func topicNameCollides(a, b string) bool {
	return a != b && strings.ReplaceAll(a, ".", "_") == strings.ReplaceAll(b, ".", "_")
}
