package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/shoal-p2p/shoal/cdn/membership"
	"github.com/shoal-p2p/shoal/cdn/web/httpcache"
	"github.com/shoal-p2p/shoal/cdn/web/proxy"
)

// ProxyCacheDir is the folder of the proxy cache's bodies in the data dir.
const ProxyCacheDir = "web-cache"

// startProxy starts the caching HTTP proxy on the bind address and
// advertises its port.
func (n *Node) startProxy(ctx context.Context) error {
	pc := n.cfg.Proxy
	var allowed []netip.Prefix
	for _, a := range pc.Allowed {
		allowed = append(allowed, netip.MustParsePrefix(a)) // validated with the config
	}
	log := n.log.With("part", "proxy")
	p, err := proxy.New(proxy.Options{
		Cache: httpcache.Options{DB: n.db, Dir: filepath.Join(n.dataDir, ProxyCacheDir), MaxBytes: pc.CacheMiB << 20,
			Name: n.zoneName() + "." + n.cfg.DNS.Zone, Log: log},
		Shoal:        newGroupOrigin(n, n.cfg.DNS.Zone),
		Zone:         n.cfg.DNS.Zone,
		Allowed:      allowed,
		ConnectPorts: pc.ConnectPorts,
		PACAll:       pc.PACAll,
		Log:          log,
	})
	if err != nil {
		return fmt.Errorf("node: %w", err)
	}
	addr := netip.AddrPortFrom(netip.MustParseAddr(n.cfg.Bind), uint16(n.cfg.Ports.Proxy)).String()
	ln, err := listen("proxy", addr, "--proxy-port or ports.proxy in shoal.toml")
	if err != nil {
		p.Close()
		return err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := p.Serve(context.WithoutCancel(ctx), ln); err != nil {
			log.Warn("proxy stopped", "err", err)
		}
	}()
	n.proxy = p
	n.services = append(n.services, service{"proxy", func(stopCtx context.Context) error {
		err := p.Close()
		select {
		case <-done:
		case <-stopCtx.Done():
			return errors.Join(err, fmt.Errorf("node: proxy: %w", stopCtx.Err()))
		}
		return err
	}})
	port := ln.Addr().(*net.TCPAddr).Port
	if _, err := n.cdn.Members.UpdateSelf(func(r *membership.Record) {
		r.Ports["proxy"] = port
		if !slices.Contains(r.Services, "proxy") {
			r.Services = append(r.Services, "proxy")
		}
	}); err != nil {
		return fmt.Errorf("node: proxy: advertise port: %w", err)
	}
	return nil
}

// Proxy is the node's caching HTTP proxy.
func (n *Node) Proxy() *proxy.Proxy { return n.proxy }

// ProxyAddr is the proxy's HOST:PORT, or "" when it is not running.
func (n *Node) ProxyAddr() string {
	if n.proxy == nil || n.cdn == nil {
		return ""
	}
	p, ok := n.cdn.Members.Self().Ports["proxy"]
	if !ok {
		return ""
	}
	return netip.AddrPortFrom(n.cdn.Addr(), uint16(p)).String()
}

// groupOrigin serves the proxy's `.shoal` hosts: LABEL.NAME.shoal and
// NAME.shoal go to the member called NAME, on its peer port, with the Host
// kept (the member serves its gateway there, and sites by Host).
type groupOrigin struct {
	n    *Node
	zone string
	rp   *httputil.ReverseProxy
}

// errNoMember is a `.shoal` name that no member has.
var errNoMember = errors.New("no member of the group has this name")

func (g *groupOrigin) member(host string) (string, error) {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	rest := strings.TrimSuffix(host, "."+g.zone)
	if rest == host || rest == "" {
		return "", fmt.Errorf("node: %s: %w", host, errNoMember)
	}
	labels := strings.Split(rest, ".")
	name := labels[len(labels)-1]
	for _, m := range g.n.cdn.Members.Members() {
		if m.State == membership.Down || !strings.EqualFold(m.DisplayName, name) {
			continue
		}
		if addrs := m.Record.PeerAddrs(); len(addrs) > 0 {
			return addrs[0], nil
		}
	}
	return "", fmt.Errorf("node: %s: %w", host, errNoMember)
}

func (g *groupOrigin) ServeShoal(w http.ResponseWriter, r *http.Request) {
	peer, err := g.member(r.URL.Hostname())
	if err != nil {
		w.Header().Set("Cache-Control", "no-store")
		http.Error(w, fmt.Sprintf("%s is not a name in the group: %v.\nshoal dns zone lists the names there are.", r.URL.Hostname(), errNoMember), http.StatusNotFound)
		return
	}
	g.rp.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), peerKey{}, peer)))
}

func newGroupOrigin(n *Node, zone string) *groupOrigin {
	return &groupOrigin{n: n, zone: zone, rp: &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme = "http"
			pr.Out.URL.Host = pr.In.Context().Value(peerKey{}).(string)
			pr.Out.Host = pr.In.Host
		},
		// In a private network members' peer ports take the key handshake
		// and TLS first (cdn.DialPeer).
		Transport: newPeerHTTP(n.cdn, 10*time.Second),
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			w.Header().Set("Cache-Control", "no-store")
			http.Error(w, fmt.Sprintf("%s did not answer: %v", r.Host, err), http.StatusBadGateway)
		},
	}}
}

type peerKey struct{}

// proxyRoutes are the control API's routes for the proxy.
func (a *controlAPI) proxyRoutes(api func(string, http.HandlerFunc)) {
	api("GET /api/v1/proxy/stats", a.getProxyStats)
	api("POST /api/v1/proxy/purge", a.postProxyPurge)
}

// ProxyStats are the proxy's statistics and where it listens.
type ProxyStats struct {
	proxy.Stats
	Address string `json:"address"`
	PAC     string `json:"pac"`
}

// ProxyStats gives the proxy's statistics, for the window and the API.
func (n *Node) ProxyStats() (ProxyStats, error) {
	p := n.Proxy()
	if p == nil {
		return ProxyStats{}, errors.New("node: the proxy is not running")
	}
	addr := n.ProxyAddr()
	return ProxyStats{Stats: p.Stats(), Address: addr, PAC: "http://" + addr + "/proxy.pac"}, nil
}

func (a *controlAPI) getProxyStats(w http.ResponseWriter, r *http.Request) {
	st, err := a.n.ProxyStats()
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, errors.New("the proxy is not running"))
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// PurgeRequest names what to drop from the proxy's cache: one URL or all.
type PurgeRequest struct {
	URL string `json:"url,omitempty"`
	All bool   `json:"all,omitempty"`
}

// PurgeResult tells how many stored responses went.
type PurgeResult struct {
	Purged int `json:"purged"`
}

func (a *controlAPI) postProxyPurge(w http.ResponseWriter, r *http.Request) {
	p := a.n.Proxy()
	if p == nil {
		writeError(w, http.StatusServiceUnavailable, errors.New("the proxy is not running"))
		return
	}
	var req PurgeRequest
	if err := decodeJSON(w, r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	switch {
	case req.All && req.URL == "":
		writeJSON(w, http.StatusOK, PurgeResult{Purged: p.Cache().Purge()})
	case !req.All && req.URL != "":
		n, err := p.Cache().Invalidate(req.URL)
		if err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
		writeJSON(w, http.StatusOK, PurgeResult{Purged: n})
	default:
		writeError(w, http.StatusBadRequest, errors.New(`give {"url": "http://..."} or {"all": true}`))
	}
}
