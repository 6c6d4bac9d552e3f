package broker

import "github.com/runnel/runnel/network"

// The connection layer is package network; these aliases let the handler
// files (one per API key) keep their signatures, `func (b *Broker)
// handleX(ctx, cc *ConnContext, req) (Response, error)`, while other
// branches edit them in parallel. A mechanical rename to network.* can
// replace them once those branches are merged.
type (
	// ConnContext is what a handler knows of its connection.
	ConnContext = network.ConnContext
	// Handler is one API key's entry in the handler table.
	Handler = network.Handler
	// Response is what a handler sends back.
	Response = network.Response
)
