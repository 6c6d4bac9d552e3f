package broker

import (
	"context"
	"errors"

	"github.com/runnel/runnel/network"

	"github.com/runnel/runnel/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DeleteGroups (key 42) is answered by the group coordinator (groups.go).
// v3 adds an error message to each refused group's result.
const deleteGroupsMaxVersion int16 = 3

func (b *Broker) handleDeleteGroups(ctx context.Context, cc *network.ConnContext, req *protocol.Request) (network.Response, error) {
	resp := b.deleteGroups(ctx, cc, req.Body.(*kmsg.DeleteGroupsRequest))
	if req.Version >= 3 {
		for i := range resp.Groups {
			if g := &resp.Groups[i]; g.ErrorCode != 0 && g.ErrorMessage == nil {
				var ke *kerr.Error
				if errors.As(kerr.ErrorForCode(g.ErrorCode), &ke) {
					msg := ke.Description
					g.ErrorMessage = &msg
				}
			}
		}
	}
	return network.Response{Msg: resp}, nil
}

// deleteGroups deletes the groups the client may DELETE and refuses the
// others.
func (b *Broker) deleteGroups(ctx context.Context, cc *network.ConnContext, r *kmsg.DeleteGroupsRequest) *kmsg.DeleteGroupsResponse {
	// Groups the client may not DELETE are refused one by one; the
	// coordinator deletes the others.
	allowed := *r
	allowed.Groups = nil
	for _, g := range r.Groups {
		if b.authorize(cc, kmsg.ACLOperationDelete, kmsg.ACLResourceTypeGroup, g) {
			allowed.Groups = append(allowed.Groups, g)
		}
	}
	// Share groups: the topics whose share-partition state goes with them.
	shareTopics := map[string][]string{}
	for _, g := range allowed.Groups {
		if st, err := b.groups.coord.ShareGroupStatus(g); err == nil && st.Exists && !st.HasMembers {
			for name := range st.Topics {
				shareTopics[g] = append(shareTopics[g], name)
			}
		}
	}
	deleted := b.groups.coord.DeleteGroups(ctx, &allowed)
	for i, g := range deleted.Groups {
		if topics, ok := shareTopics[g.Group]; ok && g.ErrorCode == 0 {
			deleted.Groups[i].ErrorCode = b.deleteShareState(ctx, g.Group, topics)
		}
	}
	if len(allowed.Groups) == len(r.Groups) {
		return deleted
	}
	byName := map[string]kmsg.DeleteGroupsResponseGroup{}
	for _, g := range deleted.Groups {
		byName[g.Group] = g
	}
	resp := *deleted
	resp.Groups = nil
	for _, name := range r.Groups {
		g, ok := byName[name]
		if !ok {
			g = kmsg.NewDeleteGroupsResponseGroup()
			g.Group, g.ErrorCode = name, kerr.GroupAuthorizationFailed.Code
		}
		resp.Groups = append(resp.Groups, g)
	}
	return &resp
}
