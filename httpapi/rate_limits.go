package httpapi

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/kilnjobs/kiln"
)

// maxRateLimitList bounds the rate limits GET /rate-limits answers: the
// first ones by kind, with truncated set when there are more.
const maxRateLimitList = 1000

// RateLimitBudget is a rate limit as the API shows it: Limit jobs per
// Period (a Go duration string, and PeriodSeconds in seconds), plus
// Burst. See openapi.yaml's RateLimitBudget.
type RateLimitBudget struct {
	Limit         int     `json:"limit"`
	Period        string  `json:"period"`
	PeriodSeconds float64 `json:"period_seconds"`
	Burst         int     `json:"burst"`
}

// rateLimitOf returns l as the API shows it; nil for the zero RateLimit.
func rateLimitOf(l kiln.RateLimit) *RateLimitBudget {
	if !l.Enabled() {
		return nil
	}
	return &RateLimitBudget{Limit: l.Limit, Period: l.Period.String(), PeriodSeconds: l.Period.Seconds(), Burst: l.Burst}
}

// RateLimitView is a kind's rate limit as GET /rate-limits shows it, and
// as `kiln ratelimit list --json` prints it: the limit in force, where it
// comes from, and its budget's use. See openapi.yaml's RateLimit.
type RateLimitView struct {
	Kind   string `json:"kind"`
	PerKey bool   `json:"per_key"`
	// Source is where Limit comes from: "runtime" (set through the API,
	// the CLI, the dashboard or Client.RateLimitSet), "code" (the
	// worker's RateLimiter, or per key its PartitionRateLimit, in the
	// process that answers) or "none".
	Source string `json:"source"`
	// Limit is the limit in force; Default the worker's, Override the
	// run-time one; nil for none.
	Limit     *RateLimitBudget `json:"limit"`
	Default   *RateLimitBudget `json:"default"`
	Override  *RateLimitBudget `json:"override"`
	UpdatedAt *time.Time       `json:"updated_at,omitempty"`
	// Capacity is how many starts the bucket holds, Burst+1; 0 without a
	// limit. Used of them are taken; Remaining may start now.
	Capacity  int `json:"capacity"`
	Used      int `json:"used"`
	Remaining int `json:"remaining"`
	// NextSlot is when the next job may start (At when one may now); At
	// is when the budget was read, on the store's clock. Both in UTC.
	NextSlot time.Time `json:"next_slot"`
	At       time.Time `json:"at"`
}

// NewRateLimitView returns st as the API shows it, its times in UTC.
func NewRateLimitView(st *kiln.RateLimitState) *RateLimitView {
	v := &RateLimitView{Kind: st.Kind, PerKey: st.PerKey, Source: "none", Limit: rateLimitOf(st.Limit),
		Default: rateLimitOf(st.Default), Used: st.Used, NextSlot: st.NextSlot.UTC(), At: st.At.UTC()}
	switch {
	case st.Override != nil:
		v.Source, v.Override = "runtime", rateLimitOf(*st.Override)
	case st.Default.Enabled():
		v.Source = "code"
	}
	if st.UpdatedAt != nil {
		t := st.UpdatedAt.UTC()
		v.UpdatedAt = &t
	}
	if st.Limit.Enabled() {
		v.Capacity = st.Limit.Burst + 1
		v.Remaining = max(v.Capacity-v.Used, 0)
	}
	return v
}

// rateLimitList is GET /rate-limits: every kind's rate limit in force and
// its budget, by kind, at most maxRateLimitList.
func (a *api) rateLimitList(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r); err != nil {
		return err
	}
	list, err := a.client.RateLimitList(r.Context())
	if err != nil {
		return err
	}
	truncated := len(list) > maxRateLimitList
	if truncated {
		list = list[:maxRateLimitList]
	}
	views := make([]*RateLimitView, 0, len(list))
	for _, st := range list {
		views = append(views, NewRateLimitView(st))
	}
	return writeJSON(w, http.StatusOK, map[string]any{"rate_limits": views, "truncated": truncated})
}

// perKeyParam returns the query parameter per_key: false when absent,
// else true or false (as strconv.ParseBool reads them), or a 400.
func perKeyParam(q url.Values) (bool, error) {
	s := q.Get("per_key")
	if s == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return false, badRequest("per_key", "%q: want true or false", s)
	}
	return b, nil
}

// rateLimitGet is GET /rate-limits/{kind}?per_key=: the kind's rate
// limit; without one, source "none" and a null limit.
func (a *api) rateLimitGet(w http.ResponseWriter, r *http.Request) error {
	q, err := query(r, "per_key")
	if err != nil {
		return err
	}
	perKey, err := perKeyParam(q)
	if err != nil {
		return err
	}
	st, err := a.client.RateLimitGet(r.Context(), r.PathValue("kind"), perKey)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, NewRateLimitView(st))
}

// rateLimitPut is PUT /rate-limits/{kind}: sets the kind's rate limit at
// run time for every process (Client.RateLimitSet's rules) and answers
// it.
func (a *api) rateLimitPut(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r); err != nil {
		return err
	}
	var body struct {
		Limit  *int            `json:"limit"`
		Period json.RawMessage `json:"period"`
		Burst  int             `json:"burst"`
		PerKey bool            `json:"per_key"`
	}
	if err := decodeBody(r, &body); err != nil {
		return err
	}
	if body.Limit == nil {
		return badRequest("limit", "missing: want how many jobs may start per period, 1 or more")
	}
	if len(body.Period) == 0 || string(body.Period) == "null" {
		return badRequest("period", "missing: want seconds as a number or a duration string such as \"1m\"")
	}
	period, err := parseDuration("period", body.Period)
	if err != nil {
		return err
	}
	kind := r.PathValue("kind")
	if err := a.client.RateLimitSet(r.Context(), kind, body.PerKey, kiln.RateLimit{Limit: *body.Limit, Period: period, Burst: body.Burst}); err != nil {
		return err
	}
	st, err := a.client.RateLimitGet(r.Context(), kind, body.PerKey)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, NewRateLimitView(st))
}

// rateLimitDelete is DELETE /rate-limits/{kind}?per_key=: removes the
// kind's run-time rate limit (404 when none is set) and answers the limit
// now in force (the worker's default, or none).
func (a *api) rateLimitDelete(w http.ResponseWriter, r *http.Request) error {
	q, err := query(r, "per_key")
	if err != nil {
		return err
	}
	perKey, err := perKeyParam(q)
	if err != nil {
		return err
	}
	kind := r.PathValue("kind")
	if err := a.client.RateLimitRemove(r.Context(), kind, perKey); err != nil {
		return err
	}
	st, err := a.client.RateLimitGet(r.Context(), kind, perKey)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, NewRateLimitView(st))
}
