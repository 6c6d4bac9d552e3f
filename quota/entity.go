package quota

// Kind is a quota kind, by Kafka's config key name.
type Kind string

// Kafka's client quota kinds (DescribeClientQuotas/AlterClientQuotas
// keys).
const (
	ProducerByteRate       Kind = "producer_byte_rate"
	ConsumerByteRate       Kind = "consumer_byte_rate"
	RequestPercentage      Kind = "request_percentage"
	ControllerMutationRate Kind = "controller_mutation_rate"
	// ConnectionCreationRate is set on IP entities (KIP-612), not on
	// users or client ids.
	ConnectionCreationRate Kind = "connection_creation_rate"
)

// Name is one side of an entity: absent (the entity does not name this
// dimension), the default (<default>), or a specific name.
type Name struct {
	Set     bool
	Default bool
	Name    string
}

// Named is a specific name; DefaultName is <default>; a zero Name is
// absent.
func Named(n string) Name { return Name{Set: true, Name: n} }

// DefaultName is Kafka's <default> entity name.
var DefaultName = Name{Set: true, Default: true}

// Entity is what a quota is set on: a user, a client id, or both.
type Entity struct {
	User     Name
	ClientID Name
}

// Tags identify a shared measurement: clients whose quota resolves to the
// same tags share one rate. An empty field is a dimension the winning
// quota level does not name.
type Tags struct {
	User, ClientID string
}

// levels says which kinds of entity have any quota (of one kind): when
// only one kind does, resolution takes a short cut, as Kafka's does, and
// its sensor tags follow from it.
type levels struct {
	user, clientID, userClientID bool
}

// resolver finds the quota that applies to a (user, client id) pair for
// one quota kind.
type resolver struct {
	quotas map[Entity]float64
	levels levels
}

func newResolver(quotas map[Entity]float64) resolver {
	r := resolver{quotas: quotas}
	for e := range quotas {
		switch {
		case e.User.Set && e.ClientID.Set:
			r.levels.userClientID = true
		case e.User.Set:
			r.levels.user = true
		case e.ClientID.Set:
			r.levels.clientID = true
		}
	}
	return r
}

func (r resolver) has(e Entity) bool { _, ok := r.quotas[e]; return ok }

// tags are the sensor tags of user and clientID (see the package doc's
// order).
func (r resolver) tags(user, clientID string) Tags {
	switch r.levels {
	case levels{}, levels{clientID: true}:
		return Tags{ClientID: clientID}
	case levels{user: true}:
		return Tags{User: user}
	case levels{userClientID: true}:
		return Tags{User: user, ClientID: clientID}
	}
	u, c := Named(user), Named(clientID)
	switch {
	case r.has(Entity{u, c}), r.has(Entity{u, DefaultName}):
		return Tags{User: user, ClientID: clientID}
	case r.has(Entity{User: u}):
		return Tags{User: user}
	case r.has(Entity{DefaultName, c}), r.has(Entity{DefaultName, DefaultName}):
		return Tags{User: user, ClientID: clientID}
	case r.has(Entity{User: DefaultName}):
		return Tags{User: user}
	}
	return Tags{ClientID: clientID}
}

// limit is the quota of the measurement with tags t, if any.
func (r resolver) limit(t Tags) (float64, bool) {
	first := func(es ...Entity) (float64, bool) {
		for _, e := range es {
			if q, ok := r.quotas[e]; ok {
				return q, true
			}
		}
		return 0, false
	}
	u, c := Named(t.User), Named(t.ClientID)
	switch {
	case t.User != "" && t.ClientID != "":
		return first(Entity{u, c}, Entity{u, DefaultName}, Entity{DefaultName, c}, Entity{DefaultName, DefaultName})
	case t.User != "":
		return first(Entity{User: u}, Entity{User: DefaultName})
	case t.ClientID != "":
		return first(Entity{ClientID: c}, Entity{ClientID: DefaultName})
	}
	return 0, false
}
