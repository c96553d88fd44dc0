package httpapi

import (
	"context"

	"github.com/kilnjobs/kiln"
)

// ServerView is a Kiln process as GET /servers shows it: the registry's
// row (kiln.ServerRow) with its declared rate limits in the API's form
// (RateLimitBudget). See openapi.yaml's Server.
type ServerView struct {
	*kiln.ServerRow
	Limits []KindLimitsView `json:"limits"`
}

// KindLimitsView is one kind's declared limits in a ServerView.
type KindLimitsView struct {
	Kind                    string           `json:"kind"`
	MaxConcurrency          int              `json:"max_concurrency,omitempty"`
	ClusterMaxConcurrency   int              `json:"cluster_max_concurrency,omitempty"`
	PartitionMaxConcurrency int              `json:"partition_max_concurrency,omitempty"`
	RateLimit               *RateLimitBudget `json:"rate_limit,omitempty"`
	PartitionRateLimit      *RateLimitBudget `json:"partition_rate_limit,omitempty"`
}

// serverList is the list of GET /servers (Client.ServerList as ServerViews).
func serverList(c *kiln.Client, ctx context.Context) ([]*ServerView, error) {
	rows, err := c.ServerList(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]*ServerView, 0, len(rows))
	for _, row := range rows {
		v := &ServerView{ServerRow: row, Limits: make([]KindLimitsView, 0, len(row.Limits))}
		for _, l := range row.Limits {
			kv := KindLimitsView{Kind: l.Kind, MaxConcurrency: l.MaxConcurrency,
				ClusterMaxConcurrency: l.ClusterMaxConcurrency, PartitionMaxConcurrency: l.PartitionMaxConcurrency}
			if l.RateLimit != nil {
				kv.RateLimit = rateLimitOf(*l.RateLimit)
			}
			if l.PartitionRateLimit != nil {
				kv.PartitionRateLimit = rateLimitOf(*l.PartitionRateLimit)
			}
			v.Limits = append(v.Limits, kv)
		}
		out = append(out, v)
	}
	return out, nil
}
