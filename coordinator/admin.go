package coordinator

import (
	"context"
	"sort"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeGroups handles DescribeGroups for classic groups. Members carry
// their metadata and assignment only while the group is Stable, as in
// Kafka. A group that does not exist is reported Dead (v0–v5) or
// GROUP_ID_NOT_FOUND (v6+).
func (c *Coordinator) DescribeGroups(_ context.Context, req *kmsg.DescribeGroupsRequest) *kmsg.DescribeGroupsResponse {
	version := req.GetVersion()
	resp := kmsg.NewPtrDescribeGroupsResponse()
	resp.SetVersion(version)
	for _, id := range req.Groups {
		rg := kmsg.NewDescribeGroupsResponseGroup()
		rg.Group = id
		if !req.IncludeAuthorizedOperations {
			rg.AuthorizedOperations = -2147483648
		}
		g, err := c.lookup(id, false)
		switch {
		case err != nil:
			rg.ErrorCode = err.(*kerr.Error).Code
		case g == nil || g.state == Dead || g.kind == consumerKind:
			rg.State = Dead.String()
			if version >= 6 {
				rg.ErrorCode = kerr.GroupIDNotFound.Code
				msg := "group " + id + " not found"
				if g != nil && g.kind == consumerKind {
					msg = "group " + id + " is not a classic group"
				}
				rg.ErrorMessage = &msg
			}
		default:
			rg.State = g.state.String()
			rg.ProtocolType = g.protocolType
			if g.state == Stable {
				rg.Protocol = g.protocol
			}
			ids := make([]string, 0, len(g.members))
			for mid := range g.members {
				ids = append(ids, mid)
			}
			sort.Strings(ids)
			for _, mid := range ids {
				m := g.members[mid]
				rm := kmsg.NewDescribeGroupsResponseGroupMember()
				rm.MemberID = m.id
				rm.InstanceID = strPtr(m.instanceID)
				rm.ClientID = m.clientID
				rm.ClientHost = m.clientHost
				rm.ProtocolMetadata, rm.MemberAssignment = []byte{}, []byte{}
				if g.state == Stable {
					if md := m.metadataFor(g.protocol); md != nil {
						rm.ProtocolMetadata = md
					}
					if m.assignment != nil {
						rm.MemberAssignment = m.assignment
					}
				}
				rg.Members = append(rg.Members, rm)
			}
		}
		if g != nil {
			g.mu.Unlock()
		}
		resp.Groups = append(resp.Groups, rg)
	}
	return resp
}

// ListGroups handles ListGroups with the states (v4+) and types (v5+)
// filters, both matched without regard to case.
func (c *Coordinator) ListGroups(_ context.Context, req *kmsg.ListGroupsRequest) *kmsg.ListGroupsResponse {
	version := req.GetVersion()
	resp := kmsg.NewPtrListGroupsResponse()
	resp.SetVersion(version)
	match := func(filter []string, v string) bool {
		if len(filter) == 0 {
			return true
		}
		for _, f := range filter {
			if strings.EqualFold(f, v) {
				return true
			}
		}
		return false
	}
	c.mu.RLock()
	for _, p := range c.parts {
		p.mu.Lock()
		if p.loading {
			resp.ErrorCode = kerr.CoordinatorLoadInProgress.Code
		}
		p.mu.Unlock()
	}
	c.mu.RUnlock()
	for _, g := range c.allGroups() {
		g.mu.Lock()
		state, kind, ptype := g.state, g.kind, g.protocolType
		g.mu.Unlock()
		if state == Dead {
			continue
		}
		if kind == consumerKind {
			ptype = "consumer"
		}
		if version >= 4 && !match(req.StatesFilter, state.String()) {
			continue
		}
		if version >= 5 && !match(req.TypesFilter, kind.String()) {
			continue
		}
		rg := kmsg.NewListGroupsResponseGroup()
		rg.Group = g.id
		rg.ProtocolType = ptype
		rg.GroupState = state.String()
		rg.GroupType = kind.String()
		resp.Groups = append(resp.Groups, rg)
	}
	for _, sg := range c.ShareGroups() {
		if version >= 4 && !match(req.StatesFilter, sg.State) {
			continue
		}
		if version >= 5 && !match(req.TypesFilter, "share") {
			continue
		}
		rg := kmsg.NewListGroupsResponseGroup()
		rg.Group, rg.ProtocolType, rg.GroupState, rg.GroupType = sg.ID, "share", sg.State, "share"
		resp.Groups = append(resp.Groups, rg)
	}
	sort.Slice(resp.Groups, func(i, j int) bool { return resp.Groups[i].Group < resp.Groups[j].Group })
	return resp
}

// DeleteGroups handles DeleteGroups: an empty group's offsets and metadata
// are tombstoned and the group is forgotten.
func (c *Coordinator) DeleteGroups(ctx context.Context, req *kmsg.DeleteGroupsRequest) *kmsg.DeleteGroupsResponse {
	resp := kmsg.NewPtrDeleteGroupsResponse()
	resp.SetVersion(req.GetVersion())
	for _, id := range req.Groups {
		rg := kmsg.NewDeleteGroupsResponseGroup()
		rg.Group = id
		rg.ErrorCode = c.deleteGroup(ctx, id)
		resp.Groups = append(resp.Groups, rg)
	}
	return resp
}

func (c *Coordinator) deleteGroup(ctx context.Context, id string) int16 {
	if code, ok := c.DeleteShareGroup(id); ok {
		return code
	}
	g, err := c.lookup(id, false)
	if err != nil {
		return err.(*kerr.Error).Code
	}
	if g == nil {
		return kerr.GroupIDNotFound.Code
	}
	defer g.mu.Unlock()
	if g.state == Dead {
		return kerr.GroupIDNotFound.Code
	}
	if !g.isEmpty() || len(g.pending) > 0 {
		return kerr.NonEmptyGroup.Code
	}
	var recs []Record
	for t, ps := range g.offsets {
		for p := range ps {
			recs = append(recs, Record{Key: offsetKey(id, t, p)})
		}
	}
	if g.cg != nil {
		recs = append(recs, g.cg.tombstones()...)
	}
	recs = append(recs, Record{Key: groupKey(id)})
	if err := g.p.append(ctx, c, recs); err != nil {
		return appendError(err).Code
	}
	if g.cg != nil {
		g.cg.written = nil
	}
	g.offsets = make(map[string]map[int32]offsetEntry)
	g.shutdown(kerr.GroupIDNotFound)
	g.persisted = false
	g.p.removeGroup(g)
	return 0
}
