package dashboard

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/kilnjobs/kiln"
)

// Role is what a dashboard user or token may do: RoleOperator changes
// state (retry, cancel, delete, enqueue, pause, edit), RoleViewer only
// reads. The zero value "" is RoleOperator.
type Role string

// The roles.
const (
	// RoleOperator may read and change everything (the default).
	RoleOperator Role = "operator"
	// RoleViewer sees every page and API answer but no action button, and
	// gets 403 on every state-changing request (POST, PUT, DELETE,
	// PATCH), pages and API alike; each refusal is recorded in the audit
	// log (action "request.refused").
	RoleViewer Role = "viewer"
)

// User is one user of HTTP basic authentication, with its role.
type User struct {
	Name     string
	Password string
	// Role is RoleOperator or RoleViewer; "" is RoleOperator.
	Role Role
}

// Token is one named bearer token ("Authorization: Bearer <Secret>"),
// with its role. Name is what the audit log records as the actor; the
// secret is never shown.
type Token struct {
	Name   string
	Secret string
	// Role is RoleOperator or RoleViewer; "" is RoleOperator.
	Role Role
}

// Identity is who a request that Options.Authorize let in is, as
// Options.Identify says.
type Identity struct {
	// Name is the actor the audit log records; "" is "authorized".
	Name string
	// Role is RoleOperator or RoleViewer; "" is RoleOperator.
	Role Role
}

// checkOptionsRoles returns an error for a malformed Users or Tokens
// entry.
func checkOptionsRoles(o *Options) error {
	for i, u := range o.Users {
		if u.Name == "" || u.Password == "" {
			return fmt.Errorf("dashboard: Options.Users[%d]: empty name or password", i)
		}
		if err := checkRole(u.Role); err != nil {
			return fmt.Errorf("dashboard: Options.Users[%d] (%s): %w", i, u.Name, err)
		}
	}
	for i, t := range o.Tokens {
		if t.Name == "" || t.Secret == "" {
			return fmt.Errorf("dashboard: Options.Tokens[%d]: empty name or secret", i)
		}
		if err := checkRole(t.Role); err != nil {
			return fmt.Errorf("dashboard: Options.Tokens[%d] (%s): %w", i, t.Name, err)
		}
	}
	return nil
}

// checkRole returns an error unless role is "", RoleOperator or
// RoleViewer.
func checkRole(role Role) error {
	switch role {
	case "", RoleOperator, RoleViewer:
		return nil
	}
	return fmt.Errorf("role %q: want %q or %q", role, RoleOperator, RoleViewer)
}

// roleOr returns role, or RoleOperator for "".
func roleOr(role Role) Role {
	if role == "" {
		return RoleOperator
	}
	return role
}

// hasBasic reports whether basic credentials are configured.
func (h *handler) hasBasic() bool { return h.opts.BasicAuth != nil || len(h.opts.Users) > 0 }

// hasBearer reports whether bearer tokens are configured.
func (h *handler) hasBearer() bool { return h.opts.BearerToken != "" || len(h.opts.Tokens) > 0 }

// hasCredentials reports whether any credentials are configured.
func (h *handler) hasCredentials() bool { return h.hasBasic() || h.hasBearer() }

// credentials returns the actor whose credentials r carries (BasicAuth
// and Users by user name, BearerToken as "token" and Tokens by name), and
// whether it carries right ones. Every configured secret is compared, in
// constant time, whichever matches.
func (h *handler) credentials(r *http.Request) (kiln.Actor, bool) {
	o := &h.opts
	var (
		actor kiln.Actor
		found bool
	)
	match := func(ok bool, name string, role Role) {
		if ok && !found {
			actor, found = kiln.Actor{Name: name, Role: string(roleOr(role))}, true
		}
	}
	if user, pass, ok := r.BasicAuth(); ok {
		if o.BasicAuth != nil {
			match(equal(user, o.BasicAuth.User) && equal(pass, o.BasicAuth.Password), o.BasicAuth.User, RoleOperator)
		}
		for _, u := range o.Users {
			match(equal(user, u.Name) && equal(pass, u.Password), u.Name, u.Role)
		}
	}
	if scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "Bearer") {
		token = strings.TrimSpace(token)
		if o.BearerToken != "" {
			match(equal(token, o.BearerToken), "token", RoleOperator)
		}
		for _, t := range o.Tokens {
			match(equal(token, t.Secret), t.Name, t.Role)
		}
	}
	return actor, found
}

// identify returns the actor of a request that Options.Authorize let in.
func (h *handler) identify(r *http.Request) kiln.Actor {
	id := Identity{}
	if h.opts.Identify != nil {
		id = h.opts.Identify(r)
	}
	if id.Name == "" {
		id.Name = "authorized"
	}
	role := roleOr(id.Role)
	if checkRole(role) != nil {
		role = RoleViewer // an unknown role may not change anything
	}
	return kiln.Actor{Name: id.Name, Role: string(role)}
}

// equal compares two secrets in constant time (for equal lengths).
func equal(got, want string) bool {
	return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// isViewer reports whether r was made by a viewer (see RoleViewer).
func isViewer(r *http.Request) bool {
	a, _ := kiln.ActorFrom(r.Context())
	return a.Role == string(RoleViewer)
}

// checkRole refuses the state-changing requests of viewers with 403, and
// records each refusal in the audit log.
func (h *handler) checkRole(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			next.ServeHTTP(w, r)
			return
		}
		if !isViewer(r) {
			next.ServeHTTP(w, r)
			return
		}
		detail, _ := json.Marshal(map[string]string{"method": r.Method, "path": r.URL.Path})
		if _, err := h.client.AuditRecord(r.Context(), kiln.AuditEntry{Action: kiln.AuditRequestRefused,
			Target: r.URL.Path, Detail: detail, Refused: true}); err != nil {
			h.opts.Logger.Error("dashboard: audit entry of a refusal not recorded", "path", r.URL.Path, "error", err)
		}
		h.deny(w, r, http.StatusForbidden, "Forbidden: your role (viewer) may read but not change anything.")
	})
}

// clientAddr returns the IP address of r's client, for the audit log:
// RemoteAddr's host, or with Options.TrustProxy the last address of
// X-Forwarded-For (the one the trusted proxy appended), if it is one.
func (h *handler) clientAddr(r *http.Request) string {
	if h.opts.TrustProxy {
		if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
			parts := strings.Split(xff[len(xff)-1], ",")
			if ip := net.ParseIP(strings.TrimSpace(parts[len(parts)-1])); ip != nil {
				return ip.String()
			}
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// errNoClient is New's error for a nil client.
var errNoClient = errors.New("dashboard: nil client")
