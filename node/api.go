package node

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/shoal-p2p/shoal/assets"
	"github.com/shoal-p2p/shoal/storage"
)

// Lifetimes of one-time login codes and of the web sessions they open.
const (
	loginCodeTTL = time.Hour
	sessionTTL   = 30 * 24 * time.Hour
	maxBodyBytes = 1 << 20
)

type session struct {
	Expires time.Time `json:"expires"`
}

// sessions holds web client sessions by the SHA-256 of their cookie value,
// so a stolen database does not hand out live cookies.
var sessions = storage.NewBucket[session]("node.sessions")

var nodeMigrations = []storage.Migration{
	{Version: 1, Name: "sessions bucket", Apply: func(tx *storage.Tx) error {
		_, err := tx.CreateBucketIfNotExists([]byte(sessions.Name()))
		return err
	}},
}

// controlAPI is the JSON control API and the web client, on the UI address.
type controlAPI struct {
	n      *Node
	ln     net.Listener
	srv    *http.Server
	cancel context.CancelFunc
	done   chan struct{}

	mu    sync.Mutex
	codes map[string]time.Time // one-time login codes and their expiry
}

func newControlAPI(n *Node) (*controlAPI, error) {
	ln, err := listen("UI", n.cfg.UI.Address, "--ui HOST:PORT or ui.address in shoal.toml")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	a := &controlAPI{n: n, ln: ln, cancel: cancel, done: make(chan struct{}), codes: map[string]time.Time{}}
	a.srv = &http.Server{
		Handler:           a.handler(),
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ErrorLog:          nil,
	}
	go func() {
		defer close(a.done)
		a.srv.Serve(ln)
	}()
	return a, nil
}

func (a *controlAPI) addr() string { return a.ln.Addr().String() }

func (a *controlAPI) stop(ctx context.Context) error {
	a.cancel() // ends event streams, which would otherwise hold Shutdown up
	err := a.srv.Shutdown(ctx)
	<-a.done
	return err
}

func (a *controlAPI) handler() http.Handler {
	mux := http.NewServeMux()
	api := func(pattern string, h http.HandlerFunc) { mux.Handle(pattern, a.authenticated(h)) }
	api("GET /api/v1/status", a.getStatus)
	api("GET /api/v1/events", a.getEvents)
	api("GET /api/v1/settings", a.getSettings)
	api("PUT /api/v1/settings", a.putSettings)
	api("GET /api/v1/backup", a.getBackup)
	api("POST /api/v1/login-links", a.postLoginLink)
	api("POST /api/v1/logout", a.postLogout)
	a.cdnRoutes(api)
	a.dnsRoutes(api)
	a.mailRoutes(api)
	a.proxyRoutes(api)
	a.siteRoutes(api)
	a.browseRoutes(api)
	a.playerRoutes(api)
	a.debugRoutes(api)
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Errorf("no API route %s %s", r.Method, r.URL.Path))
	})
	mux.HandleFunc("GET /login", a.getLogin)
	web, err := fs.Sub(assets.Web, "web")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	static := http.FileServerFS(web)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			writeError(w, http.StatusMethodNotAllowed, fmt.Errorf("%s not allowed here", r.Method))
			return
		}
		// Revalidate each time, so an upgraded node never mixes old and new files.
		w.Header().Set("Cache-Control", "no-cache")
		static.ServeHTTP(w, r)
	})
	return a.checkHost(securityHeaders(mux, a.n.siteOrigins))
}

// checkHost refuses requests whose Host is neither the UI address nor
// localhost, which defeats DNS rebinding.
func (a *controlAPI) checkHost(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		h, port, err := net.SplitHostPort(host)
		if err != nil {
			h, port = host, ""
		}
		_, uiPort, _ := net.SplitHostPort(a.addr())
		ok := host == a.addr() ||
			(strings.EqualFold(h, "localhost") && (port == "" || port == uiPort))
		if !ok {
			writeError(w, http.StatusForbidden, fmt.Errorf("host %q is not this node's UI address", host))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// securityHeaders sets the headers of every answer; frames lists the only
// origins the web client may frame (the members' peer ports, which serve
// the group's sites), never the UI's own.
func securityHeaders(next http.Handler, frames func() []string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		frameSrc := "'none'"
		if f := frames(); len(f) > 0 {
			frameSrc = strings.Join(f, " ")
		}
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data: https: http:; media-src 'self' blob:; frame-src "+frameSrc+"; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		next.ServeHTTP(w, r)
	})
}

func (a *controlAPI) cookieName() string {
	_, port, _ := net.SplitHostPort(a.addr())
	return "shoal_session_" + port
}

// authenticated lets a request through with the API token as a bearer token,
// or with a web session cookie. Cookie requests that change state must be
// JSON, which a cross-site form cannot send without a CORS preflight.
func (a *controlAPI) authenticated(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
			if subtle.ConstantTimeCompare([]byte(bearer), []byte(a.n.token)) == 1 {
				next(w, r)
				return
			}
			writeError(w, http.StatusUnauthorized, errors.New("wrong API token"))
			return
		}
		c, err := r.Cookie(a.cookieName())
		if err != nil || !a.validSession(c.Value) {
			writeError(w, http.StatusUnauthorized, errors.New("no API token: send Authorization: Bearer TOKEN (from the data dir's api-token) or log in with a link from 'shoal login'"))
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
			if mt != "application/json" {
				writeError(w, http.StatusUnsupportedMediaType, errors.New("state-changing requests must be application/json"))
				return
			}
		}
		next(w, r)
	})
}

func (a *controlAPI) validSession(cookie string) bool {
	key := hashKey(cookie)
	var s session
	err := a.n.db.View(func(tx *storage.Tx) error {
		var err error
		s, err = sessions.Get(tx, key)
		return err
	})
	return err == nil && time.Now().Before(s.Expires)
}

func hashKey(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func (a *controlAPI) getStatus(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, a.n.Status())
}

func (a *controlAPI) getSettings(w http.ResponseWriter, r *http.Request) {
	res, err := a.n.Settings()
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (a *controlAPI) putSettings(w http.ResponseWriter, r *http.Request) {
	var cfg Config
	if err := decodeJSON(w, r, &cfg); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	res, err := a.n.SaveSettings(cfg)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// getEvents streams the bus as server-sent events. A reconnecting client
// sends Last-Event-ID (or ?since=) and gets what it missed that is still kept.
func (a *controlAPI) getEvents(w http.ResponseWriter, r *http.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		writeError(w, http.StatusInternalServerError, errors.New("streaming unsupported"))
		return
	}
	var since uint64
	for _, s := range []string{r.Header.Get("Last-Event-ID"), r.URL.Query().Get("since")} {
		if s == "" {
			continue
		}
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			writeError(w, http.StatusBadRequest, fmt.Errorf("event id %q is not a number", s))
			return
		}
		since = v
	}
	backlog, events, cancel := a.n.bus.Subscribe(since)
	defer cancel()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	send := func(ev Event) error {
		data, err := json.Marshal(ev)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", ev.Seq, ev.Type, data)
		return err
	}
	for _, ev := range backlog {
		if send(ev) != nil {
			return
		}
	}
	fmt.Fprint(w, ": ready\n\n")
	flusher.Flush()
	keepalive := time.NewTicker(15 * time.Second)
	defer keepalive.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case ev := <-events:
			if send(ev) != nil {
				return
			}
		case <-keepalive.C:
			if _, err := fmt.Fprint(w, ": keepalive\n\n"); err != nil {
				return
			}
		}
		flusher.Flush()
	}
}

func (a *controlAPI) getBackup(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="shoal-backup.db"`)
	if _, err := a.n.Backup(w); err != nil {
		a.n.log.Error("backup failed", "err", err)
	}
}

// LoginURL makes a one-time link that opens a web client session.
func (n *Node) LoginURL() string { return n.api.newLoginURL() }

func (a *controlAPI) newLoginURL() string {
	code := randomHex(24)
	now := time.Now()
	a.mu.Lock()
	for c, exp := range a.codes {
		if now.After(exp) {
			delete(a.codes, c)
		}
	}
	a.codes[code] = now.Add(loginCodeTTL)
	a.mu.Unlock()
	return "http://" + a.addr() + "/login?code=" + url.QueryEscape(code)
}

func (a *controlAPI) postLoginLink(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"url": a.newLoginURL()})
}

// getLogin trades a one-time code for a session cookie.
func (a *controlAPI) getLogin(w http.ResponseWriter, r *http.Request) {
	code := r.URL.Query().Get("code")
	a.mu.Lock()
	exp, ok := a.codes[code]
	delete(a.codes, code)
	a.mu.Unlock()
	if !ok || time.Now().After(exp) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `<!doctype html><title>Shoal: login link not valid</title><p>This login link was already used or has expired. Run <code>shoal login</code> for a new one.</p>`)
		return
	}
	cookie := randomHex(32)
	s := session{Expires: time.Now().Add(sessionTTL)}
	if err := a.n.db.Update(func(tx *storage.Tx) error { return sessions.Put(tx, hashKey(cookie), s) }); err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: a.cookieName(), Value: cookie, Path: "/", Expires: s.Expires,
		HttpOnly: true, SameSite: http.SameSiteStrictMode,
	})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (a *controlAPI) postLogout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(a.cookieName()); err == nil {
		a.n.db.Update(func(tx *storage.Tx) error { return sessions.Delete(tx, hashKey(c.Value)) })
	}
	http.SetCookie(w, &http.Cookie{Name: a.cookieName(), Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("bad JSON: %w", err)
	}
	if dec.More() {
		return errors.New("bad JSON: more than one value")
	}
	return nil
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, map[string]string{"error": err.Error()})
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// loadOrCreateToken reads the API token, creating it (0600) on first start.
func loadOrCreateToken(path string) (string, error) {
	raw, err := os.ReadFile(path)
	if err == nil {
		tok := strings.TrimSpace(string(raw))
		if len(tok) < 32 {
			return "", fmt.Errorf("node: %s holds no valid token; delete it to make a new one", path)
		}
		return tok, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("node: read API token: %w", err)
	}
	tok := randomHex(32)
	if err := writeFileAtomic(path, []byte(tok+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("node: write API token: %w", err)
	}
	return tok, nil
}
