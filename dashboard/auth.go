package dashboard

import (
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/kilnjobs/kiln"
)

// secure wraps next with the dashboard's security layers, outermost first:
// security headers, authorization, cross-origin protection (CSRF) and the
// read-only mode. They apply to the pages and to the mounted API and
// metrics alike.
func (h *handler) secure(next http.Handler) http.Handler {
	// CrossOriginProtection refuses state-changing requests (POST, PUT,
	// DELETE, PATCH) that a browser marks as cross-site through
	// Sec-Fetch-Site, or whose Origin does not match the Host; requests
	// from non-browser clients (curl, other services), which send neither
	// header, pass.
	csrf := http.NewCrossOriginProtection()
	csrf.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.deny(w, r, http.StatusForbidden, "Forbidden: cross-origin request refused (CSRF protection).")
	}))
	protected := csrf.Handler(h.readOnly(h.checkRole(next)))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "same-origin")
		// Scripts only from the dashboard itself: a <script> that escaped
		// into a page could not run even if escaping failed.
		hd.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
			"frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
		actor, ok := h.authorize(w, r)
		if !ok {
			return
		}
		actor.Addr = h.clientAddr(r)
		protected.ServeHTTP(w, r.WithContext(kiln.WithActor(r.Context(), actor)))
	})
}

// authorize reports whether r may be served, and who makes it (name and
// role; see Options.Users); when not, it has written the
// refusal: 401 with a challenge for missing or wrong credentials, 429 with
// Retry-After for a client that sent wrong credentials too often (see
// authLimiter), 403 when the Authorize hook, the loopback rule or the Host
// rule refuses.
func (h *handler) authorize(w http.ResponseWriter, r *http.Request) (kiln.Actor, bool) {
	o := &h.opts
	local := kiln.Actor{Name: kiln.ActorLocal, Role: string(RoleOperator)}
	if o.Authorize == nil && !h.hasCredentials() {
		if o.AllowRemote {
			return local, true
		}
		if !isLoopback(r.RemoteAddr) {
			h.deny(w, r, http.StatusForbidden, "Forbidden: the Kiln dashboard serves only local requests unless authentication is configured "+
				"(dashboard.Options BasicAuth, BearerToken or Authorize; kiln serve --dashboard-user or $KILN_DASHBOARD_TOKEN).")
			return kiln.Actor{}, false
		}
		// A local request for another host name is a page of that name
		// whose DNS now points here (DNS rebinding): the browser would let
		// it read the answers, so it gets none.
		if !h.hostAllowed(r.Host) {
			h.deny(w, r, http.StatusForbidden, fmt.Sprintf("Forbidden: Host %q: without authentication the Kiln dashboard answers only to "+
				"localhost, 127.0.0.1 and [::1] (a guard against DNS rebinding); add the name to dashboard.Options.AllowedHosts "+
				"(kiln serve --dashboard-allowed-host) or configure authentication.", r.Host))
			return kiln.Actor{}, false
		}
		return local, true
	}
	// Credentials are guessed by trying them: a client that presented
	// wrong ones too often is refused before they are checked.
	if h.hasCredentials() && r.Header.Get("Authorization") != "" {
		done, wait, ok := h.failures.try(r.RemoteAddr)
		if !ok {
			secs := int(math.Ceil(wait.Seconds()))
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			h.deny(w, r, http.StatusTooManyRequests, fmt.Sprintf("Too many requests: too many wrong credentials from your address; try again in %d s.", secs))
			return kiln.Actor{}, false
		}
		actor, right := h.credentials(r)
		done(right)
		if right {
			return actor, true
		}
	}
	if o.Authorize != nil && o.Authorize(r) {
		return h.identify(r), true
	}
	if h.hasBasic() {
		w.Header().Add("WWW-Authenticate", `Basic realm="Kiln", charset="UTF-8"`)
	}
	if h.hasBearer() {
		w.Header().Add("WWW-Authenticate", `Bearer realm="Kiln"`)
	}
	if h.hasCredentials() {
		h.deny(w, r, http.StatusUnauthorized, "Unauthorized: the Kiln dashboard needs credentials.")
		return kiln.Actor{}, false
	}
	h.deny(w, r, http.StatusForbidden, "Forbidden: the authorization hook refused the request.")
	return kiln.Actor{}, false
}

// isLoopback reports whether a request's RemoteAddr ("host:port") is a
// loopback address (127.0.0.0/8 or ::1).
func isLoopback(remoteAddr string) bool {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// hostAllowed reports whether a request's Host header ("name", "name:port",
// "[::1]:port") names this machine's loopback interface (localhost, or a
// loopback IP address) or one of Options.AllowedHosts. Names are compared
// without case and without a trailing dot.
func (h *handler) hostAllowed(hostport string) bool {
	host := normalizeHost(hostport)
	if host == "localhost" {
		return true
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return true
	}
	return host != "" && slices.Contains(h.allowedHosts, host)
}

// normalizeHost returns the host of a Host header or an AllowedHosts
// entry, without port, brackets and trailing dot, in lower case.
func normalizeHost(hostport string) string {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	host = strings.TrimSuffix(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"), ".")
	return strings.ToLower(host)
}

// readOnly refuses state-changing requests with 403 in read-only mode.
func (h *handler) readOnly(next http.Handler) http.Handler {
	if !h.opts.ReadOnly {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			next.ServeHTTP(w, r)
		default:
			h.deny(w, r, http.StatusForbidden, "Forbidden: the Kiln dashboard is read-only.")
		}
	})
}

// deny answers a refused request with status and msg: as the JSON API's
// error body ({"error": msg}) under /api/, as text elsewhere.
func (h *handler) deny(w http.ResponseWriter, r *http.Request, status int, msg string) {
	p := r.URL.Path
	if h.opts.Prefix != "" && strings.HasPrefix(p, h.opts.Prefix+"/") {
		p = strings.TrimPrefix(p, h.opts.Prefix)
	}
	if !strings.HasPrefix(p, "/api/") {
		http.Error(w, msg, status)
		return
	}
	body, _ := json.Marshal(map[string]string{"error": msg})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
