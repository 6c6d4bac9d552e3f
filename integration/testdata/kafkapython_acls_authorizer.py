"""kafka-python's admin client against a broker with an authorizer, as a
super user: create two ACLs, describe them, delete one. Prints one line
per step."""
import sys

from kafka.admin import (ACL, ACLFilter, ACLOperation, ACLPermissionType,
                         KafkaAdminClient, ResourcePattern, ResourcePatternFilter,
                         ResourceType, ACLResourcePatternType)

admin = KafkaAdminClient(bootstrap_servers=sys.argv[1], request_timeout_ms=10000)
read = ACL(principal="User:bob", host="*", operation=ACLOperation.READ,
           permission_type=ACLPermissionType.ALLOW,
           resource_pattern=ResourcePattern(ResourceType.TOPIC, "bob-", ACLResourcePatternType.PREFIXED))
group = ACL(principal="User:bob", host="*", operation=ACLOperation.READ,
            permission_type=ACLPermissionType.ALLOW,
            resource_pattern=ResourcePattern(ResourceType.GROUP, "bob-group", ACLResourcePatternType.LITERAL))
result = admin.create_acls([read, group])
print("created %d failed %d" % (len(result["succeeded"]), len(result["failed"])))

bobs = ACLFilter(principal="User:bob", host=None, operation=ACLOperation.ANY,
                 permission_type=ACLPermissionType.ANY,
                 resource_pattern=ResourcePatternFilter(ResourceType.ANY, None, ACLResourcePatternType.ANY))
acls, err = admin.describe_acls(bobs)
print("described %d %s" % (len(acls), sorted(a.resource_pattern.resource_name for a in acls)))

groups = ACLFilter(principal="User:bob", host=None, operation=ACLOperation.ANY,
                   permission_type=ACLPermissionType.ANY,
                   resource_pattern=ResourcePatternFilter(ResourceType.GROUP, None, ACLResourcePatternType.ANY))
deleted = admin.delete_acls([groups])
for _, matches, err in deleted:
    print("deleted %d" % len(matches))
acls, err = admin.describe_acls(bobs)
print("left %s" % sorted(a.resource_pattern.resource_name for a in acls))
admin.close()
