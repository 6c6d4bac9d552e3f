package authz

import (
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Wildcards of Kafka's ACLs: a LITERAL resource name "*" applies to every
// resource of its type, principal "User:*" to every principal, host "*"
// to every client address.
const (
	WildcardResource  = "*"
	WildcardPrincipal = "User:*"
	WildcardHost      = "*"
)

// ClusterResourceName is the only name a CLUSTER resource has.
const ClusterResourceName = "kafka-cluster"

// Binding is one ACL: a resource pattern and an access control entry.
type Binding struct {
	ResourceType kmsg.ACLResourceType
	ResourceName string
	PatternType  kmsg.ACLResourcePatternType // LITERAL or PREFIXED once validated
	Principal    string                      // "User:alice", or WildcardPrincipal
	Host         string                      // an IP address, or WildcardHost
	Operation    kmsg.ACLOperation
	Permission   kmsg.ACLPermissionType // ALLOW or DENY once validated
}

func (b Binding) String() string {
	return fmt.Sprintf("(pattern=%s:%s:%s, principal=%s, host=%s, operation=%s, permission=%s)",
		b.ResourceType, b.PatternType, b.ResourceName, b.Principal, b.Host, b.Operation, b.Permission)
}

// Validate checks a binding that CreateAcls asks for, with the checks and
// messages of Kafka's broker (AclApis) and controller (AclControlManager):
// each failure is INVALID_REQUEST for that binding alone.
func (b Binding) Validate() error {
	invalid := func(format string, args ...any) error {
		return &Error{Err: kerr.InvalidRequest, Message: fmt.Sprintf(format, args...)}
	}
	switch {
	case b.ResourceType == kmsg.ACLResourceTypeCluster && b.ResourceName != ClusterResourceName:
		return invalid("The only valid name for the CLUSTER resource is %s", ClusterResourceName)
	case b.ResourceName == "":
		return invalid("Invalid empty resource name")
	}
	switch b.ResourceType {
	case kmsg.ACLResourceTypeTopic, kmsg.ACLResourceTypeGroup, kmsg.ACLResourceTypeCluster,
		kmsg.ACLResourceTypeTransactionalId, kmsg.ACLResourceTypeDelegationToken, kmsg.ACLResourceTypeUser:
	default:
		return invalid("Invalid resourceType %s", b.ResourceType)
	}
	switch b.PatternType {
	case kmsg.ACLResourcePatternTypeLiteral, kmsg.ACLResourcePatternTypePrefixed:
	default:
		return invalid("Invalid patternType %s", b.PatternType)
	}
	if !knownOperation(b.Operation) || b.Operation == kmsg.ACLOperationAny {
		return invalid("Invalid operation %s", b.Operation)
	}
	switch b.Permission {
	case kmsg.ACLPermissionTypeAllow, kmsg.ACLPermissionTypeDeny:
	default:
		return invalid("Invalid permissionType %s", b.Permission)
	}
	if !strings.Contains(b.Principal, ":") {
		return invalid("Could not parse principal from `%s` (no colon is present separating the principal type from the principal name)", b.Principal)
	}
	return nil
}

// OperationTwoPhaseCommit is Kafka 4's TWO_PHASE_COMMIT operation
// (KIP-939), which kmsg does not name.
const OperationTwoPhaseCommit kmsg.ACLOperation = 15

// knownOperation reports whether op is one of the operations Kafka 4
// defines (ANY included; UNKNOWN and codes past TWO_PHASE_COMMIT not).
func knownOperation(op kmsg.ACLOperation) bool {
	return op >= kmsg.ACLOperationAny && op <= OperationTwoPhaseCommit
}

// Error is a Kafka error code with the message Kafka sends beside it.
type Error struct {
	Err     *kerr.Error
	Message string
}

func (e *Error) Error() string { return e.Err.Message + ": " + e.Message }
func (e *Error) Unwrap() error { return e.Err }
