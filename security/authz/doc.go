// Package authz decides whether a principal may perform an operation on a
// resource, with the semantics of Kafka's StandardAuthorizer
// (org.apache.kafka.metadata.authorizer.StandardAuthorizer, KIP-801), and
// validates and filters ACL bindings as Kafka's CreateAcls, DescribeAcls
// and DeleteAcls do. It holds no state but an immutable index built from a
// list of bindings: where the ACLs live (etcd) and how changes reach a
// broker is the controller's business; the broker builds a new Authorizer
// from each metadata snapshot whose ACLs changed and swaps it in.
//
// The decision, for a principal P connecting from host H asking for
// operation O on a resource of type T named N:
//
//  1. P in super.users: allowed.
//  2. The ACLs that apply to the resource are those of type T whose
//     pattern is LITERAL N, LITERAL "*", or PREFIXED p with N starting
//     with p. If there are none, the answer is
//     allow.everyone.if.no.acl.found (default false: denied).
//  3. Of those, an ACL matches when its principal is P or "User:*", its
//     host is H or "*", and its operation is O or ALL — where an ALLOW
//     ACL for READ, WRITE, DELETE or ALTER also grants DESCRIBE, and one
//     for ALTER_CONFIGS also grants DESCRIBE_CONFIGS (a DENY ACL denies
//     only its own operation, or everything when it is ALL).
//  4. Any matching DENY: denied. Else any matching ALLOW: allowed. Else
//     denied — the resource has ACLs, none for P.
//
// Names follow Kafka's: principals are "Type:name" strings ("User:alice"),
// hosts are IP address strings, and resource/operation/permission/pattern
// types are kmsg's enums, so a binding goes to and from the wire without
// translation.
package authz
