package broker

// handlers is the table of every API the broker serves, by key, with the
// highest version its handler implements (the floor is Kafka 4's, from
// protocol). One file per API family holds each handler, named for its key.
// ApiVersions (18) is answered by the Server itself from this table.
func (b *Broker) handlers() map[int16]Handler {
	return map[int16]Handler{}
}
