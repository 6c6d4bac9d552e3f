"""kafka-python's admin client against a broker without an authorizer:
describe_acls and create_acls must each fail with SecurityDisabledError
(Kafka's error 54), not a dropped connection. Prints one line per call."""
import sys

from kafka.admin import (ACL, ACLFilter, ACLOperation, ACLPermissionType,
                         KafkaAdminClient, ResourcePattern, ResourcePatternFilter,
                         ResourceType, ACLResourcePatternType)
from kafka.errors import SecurityDisabledError

admin = KafkaAdminClient(bootstrap_servers=sys.argv[1], request_timeout_ms=10000)
acl_filter = ACLFilter(principal=None, host="*", operation=ACLOperation.ANY,
                       permission_type=ACLPermissionType.ANY,
                       resource_pattern=ResourcePatternFilter(ResourceType.TOPIC, None, ACLResourcePatternType.ANY))
try:
    admin.describe_acls(acl_filter)
    print("describe: no error")
except SecurityDisabledError as e:
    print("describe: SecurityDisabledError")

acl = ACL(principal="User:alice", host="*", operation=ACLOperation.READ,
          permission_type=ACLPermissionType.ALLOW,
          resource_pattern=ResourcePattern(ResourceType.TOPIC, "t", ACLResourcePatternType.LITERAL))
result = admin.create_acls([acl])
for _, err in result["failed"]:
    print("create: " + err.__name__)
if result["succeeded"]:
    print("create: succeeded")
admin.close()
