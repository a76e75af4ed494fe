package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	qrcode "github.com/skip2/go-qrcode"

	"github.com/shoal-p2p/shoal/cdn"
	"github.com/shoal-p2p/shoal/cdn/membership"
	"github.com/shoal-p2p/shoal/cdn/pnet"
)

// This file is the node's side of private networks (cdn/pnet): making a
// network private, inviting, joining with an invitation, rekeying and
// removing members. The key lives in DATA/network.key (0600); shoal.toml
// says which network the node is in and whether it is private.

// Errors of the network operations, checked with errors.Is.
var (
	ErrAlreadyPrivate = errors.New("node: the node is already in a private network")
	ErrOtherNetwork   = errors.New("node: the invitation is for another network")
)

// NetworkInfo says which network the node is in and what kind it is.
type NetworkInfo struct {
	Network string `json:"network"`
	// Kind is "open" (anyone who knows a member may join) or "private"
	// (members hold the network key).
	Kind    string `json:"kind"`
	Private bool   `json:"private"`
	// Fingerprint names the key in use (private networks).
	Fingerprint string `json:"fingerprint,omitempty"`
	Members     int    `json:"members"`
	// RefusedAtHandshake counts peer connections refused for want of the
	// key since the node started.
	RefusedAtHandshake int64 `json:"refused_at_handshake"`
	// Saved is what shoal.toml says when it differs from this run (after
	// create or join): the node takes it at its next start.
	Saved   *SavedNetwork `json:"saved,omitempty"`
	Restart []string      `json:"restart_required"`
	// Restarting says the node is starting again to take Saved, at once
	// (a `shoal node` process); otherwise the user restarts it.
	Restarting bool `json:"restarting,omitempty"`
}

// RestartWanted is closed when the node asks to be started again: a
// network was created or joined. Options.Restarts says someone does.
func (n *Node) RestartWanted() <-chan struct{} { return n.restart }

// askRestart asks for a restart if the program does them, and says so.
func (n *Node) askRestart(info *NetworkInfo) {
	if !n.opts.Restarts || info.Saved == nil {
		return
	}
	info.Restarting = true
	n.restartOnce.Do(func() {
		n.log.Info("restarting to move to the saved network", "network", info.Saved.Network)
		// After the answer is out: Close waits for the API's requests.
		time.AfterFunc(100*time.Millisecond, func() { close(n.restart) })
	})
}

// SavedNetwork is the network shoal.toml names.
type SavedNetwork struct {
	Network string   `json:"network"`
	Private bool     `json:"private"`
	Join    []string `json:"join"`
}

func kindOf(private bool) string {
	if private {
		return "private"
	}
	return "open"
}

// NetworkInfo tells the network the node runs in, and the one it starts in
// next if create or join changed it.
func (n *Node) NetworkInfo() NetworkInfo {
	cfg := n.Config()
	info := NetworkInfo{Network: cfg.Network, Private: n.cdn.Private(), Kind: kindOf(n.cdn.Private()),
		Fingerprint: n.cdn.KeyFingerprint(), Members: len(n.cdn.Members.Members()),
		RefusedAtHandshake: n.cdn.RefusedAtHandshake(), Restart: []string{}}
	if saved, _, err := LoadConfig(filepath.Join(n.dataDir, ConfigFile)); err == nil {
		if saved.Network != cfg.Network || saved.Private != info.Private || !slices.Equal(saved.Join, cfg.Join) {
			info.Saved = &SavedNetwork{Network: saved.Network, Private: saved.Private, Join: saved.Join}
			info.Restart = []string{"network"}
		}
	}
	return info
}

// CreateNetwork makes the data dir's node the first member of the private
// network name: a new key in DATA/network.key and network = name, private
// = true in shoal.toml. A running node takes them when it restarts.
// Nothing is written when name is not a DNS label or the node is in a
// private network already (rekey makes a new key).
func CreateNetwork(dataDir, name string) (pnet.Key, error) {
	var k pnet.Key
	if !labelRE.MatchString(name) {
		return k, fmt.Errorf("node: network %q must be a DNS label: 1-63 lower-case letters, digits and inner hyphens", name)
	}
	cfgPath := filepath.Join(dataDir, ConfigFile)
	cfg, _, err := LoadConfig(cfgPath)
	if err != nil {
		return k, err
	}
	if cfg.Private {
		return k, fmt.Errorf("%w (%q); 'shoal network rekey' makes a new key", ErrAlreadyPrivate, cfg.Network)
	}
	if k, err = pnet.NewKey(); err != nil {
		return k, err
	}
	cfg.Network, cfg.Private = name, true
	return k, writeNetwork(dataDir, cfg, k)
}

// JoinNetwork checks the invitation link and, if it is good, writes its key
// to DATA/network.key and its network and members' addresses (as join)
// to shoal.toml. A cut, altered or expired invitation, or one for another
// network than the private one the node is in, writes nothing.
func JoinNetwork(dataDir, link string, now time.Time) (pnet.Invite, error) {
	in, err := pnet.ParseInvite(link, now)
	if err != nil {
		return in, err
	}
	cfgPath := filepath.Join(dataDir, ConfigFile)
	cfg, _, err := LoadConfig(cfgPath)
	if err != nil {
		return in, err
	}
	if cfg.Private && cfg.Network != in.Network {
		return in, fmt.Errorf("%w: it is for %q, and this node is in the private network %q", ErrOtherNetwork, in.Network, cfg.Network)
	}
	if !labelRE.MatchString(in.Network) {
		return in, fmt.Errorf("%w: network %q is not a DNS label", pnet.ErrBadInvite, in.Network)
	}
	for _, a := range in.Addrs {
		if err := validHostPort(a, false); err != nil {
			return in, fmt.Errorf("%w: address %q: %v", pnet.ErrBadInvite, a, err)
		}
	}
	cfg.Network, cfg.Private, cfg.Join = in.Network, true, slices.Clone(in.Addrs)
	return in, writeNetwork(dataDir, cfg, in.Key)
}

// writeNetwork writes the key, then the config that names it; if the
// config cannot be written the old key file comes back.
func writeNetwork(dataDir string, cfg Config, k pnet.Key) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("node: config: %w", err)
	}
	keyPath := filepath.Join(dataDir, pnet.KeyFile)
	old, oldErr := os.ReadFile(keyPath)
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return fmt.Errorf("node: %w", err)
	}
	if err := pnet.SaveKey(keyPath, k); err != nil {
		return err
	}
	if err := SaveConfig(filepath.Join(dataDir, ConfigFile), cfg); err != nil {
		if oldErr == nil {
			writeFileAtomic(keyPath, old, 0o600)
		} else {
			os.Remove(keyPath)
		}
		return err
	}
	return nil
}

// loadNetworkKey is the key of a private network's node, or nil for an
// open network.
func loadNetworkKey(dataDir string, cfg Config) (*pnet.Keys, error) {
	if !cfg.Private {
		return nil, nil
	}
	k, err := pnet.LoadKey(filepath.Join(dataDir, pnet.KeyFile))
	if errors.Is(err, pnet.ErrNoKey) {
		return nil, fmt.Errorf("node: network %q is private (private = true in %s) but %s is missing: join with an invitation ('shoal network join') or make a new network ('shoal network create')",
			cfg.Network, ConfigFile, pnet.KeyFile)
	}
	if err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	return pnet.NewKeys(k), nil
}

// CreateNetwork is the package's CreateNetwork for the running node's
// data dir: it waits for a restart.
func (n *Node) CreateNetwork(name string) (NetworkInfo, error) {
	if n.cdn.Private() {
		return NetworkInfo{}, fmt.Errorf("%w (%q); 'shoal network rekey' makes a new key", ErrAlreadyPrivate, n.Config().Network)
	}
	if _, err := CreateNetwork(n.dataDir, name); err != nil {
		return NetworkInfo{}, err
	}
	n.log.Info("private network created; it takes effect at the next start", "network", name)
	info := n.NetworkInfo()
	n.askRestart(&info)
	return info, nil
}

// JoinNetwork is the package's JoinNetwork for the running node's data
// dir: the node joins at its next start.
func (n *Node) JoinNetwork(link string) (NetworkInfo, error) {
	if k, ok := n.cdn.NetworkKey(); ok {
		in, err := pnet.ParseInvite(link, time.Now())
		if err == nil && in.Network == n.Config().Network && in.Key == k {
			return n.NetworkInfo(), nil // a member already
		}
	}
	in, err := JoinNetwork(n.dataDir, link, time.Now())
	if err != nil {
		return NetworkInfo{}, err
	}
	n.log.Info("invitation accepted; the node joins at its next start", "network", in.Network, "through", fmt.Sprint(in.Addrs))
	info := n.NetworkInfo()
	n.askRestart(&info)
	return info, nil
}

// maxInviteAddrs bounds the members an invitation lists.
const maxInviteAddrs = 8

// Invite makes an invitation to the node's private network: the network's
// name and key and the peer addresses of this node and the live members,
// signed with the node's key; it expires after expires (0: never).
func (n *Node) Invite(expires time.Duration) (string, error) {
	k, ok := n.cdn.NetworkKey()
	if !ok {
		return "", fmt.Errorf("node: %w: anyone may join it through a member's address (--join); 'shoal network create NAME' makes a private one", cdn.ErrOpenNetwork)
	}
	if expires < 0 {
		return "", fmt.Errorf("node: an invitation cannot expire %v ago", -expires)
	}
	addrs := []string{n.cdn.PeerAddr()}
	for _, m := range n.cdn.Members.Members() {
		if m.Self || m.State != membership.Alive || len(addrs) == maxInviteAddrs {
			continue
		}
		if pa := m.Record.PeerAddrs(); len(pa) > 0 {
			addrs = append(addrs, pa[0])
		}
	}
	now := time.Now()
	in := pnet.Invite{Network: n.Config().Network, Key: k, Addrs: addrs, Issued: now}
	if expires > 0 {
		in.Expires = now.Add(expires)
	}
	return in.Encode(n.id)
}

// Rekey hands a new key to the live members (see cdn.CDN.Rekey).
func (n *Node) Rekey(ctx context.Context) (cdn.RekeyResult, error) {
	return n.cdn.Rekey(ctx, nil)
}

// RemoveMember drops a member and, in a private network, rekeys without
// it, so that it cannot talk to the members any more. In an open network
// it is only dropped from the table (it may join again).
func (n *Node) RemoveMember(ctx context.Context, id string) (cdn.RekeyResult, error) {
	if m, ok := n.cdn.Members.Lookup(id); ok {
		id = m.ID() // a display name names its member
	}
	if !n.cdn.Private() {
		err := n.cdn.Members.Remove(id)
		return cdn.RekeyResult{Removed: []string{id}}, err
	}
	return n.cdn.Rekey(ctx, []string{id})
}

// newPeerHTTP is the client the node's own parts (the proxy, the player)
// fetch members' gateways and sites with: plain HTTP in an open network,
// inside the key handshake and TLS in a private one (cdn.DialPeer).
func newPeerHTTP(c *cdn.CDN, timeout time.Duration) *http.Transport {
	return &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			return c.DialPeer(ctx, network, addr)
		},
		ResponseHeaderTimeout: 30 * time.Second, IdleConnTimeout: 90 * time.Second, MaxIdleConnsPerHost: 16,
	}
}

// errBadNetworkRequest is a network request that does not say what it
// needs.
var errBadNetworkRequest = errors.New("node: bad network request")

// networkRoutes are the control API's routes for private networks.
func (a *controlAPI) networkRoutes(api func(string, http.HandlerFunc)) {
	api("GET /api/v1/network/info", a.getNetworkInfo)
	api("POST /api/v1/network/create", a.postNetworkCreate)
	api("POST /api/v1/network/invite", a.postNetworkInvite)
	api("POST /api/v1/network/join", a.postNetworkJoin)
	api("POST /api/v1/network/rekey", a.postNetworkRekey)
	api("POST /api/v1/network/remove", a.postNetworkRemove)
}

func (a *controlAPI) getNetworkInfo(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, a.n.NetworkInfo())
}

func (a *controlAPI) postNetworkCreate(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name string `json:"name"`
	}
	if err := decodeJSON(w, r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	info, err := a.n.CreateNetwork(req.Name)
	if err != nil {
		writeError(w, statusFor(err), err)
		return
	}
	writeJSON(w, http.StatusOK, info)
}

// InviteResult is an invitation, when it expires, and its QR code.
type InviteResult struct {
	Invite  string     `json:"invite"`
	Expires *time.Time `json:"expires,omitempty"`
	// QRPNG is the link as a QR code, a PNG (base64 in JSON).
	QRPNG []byte `json:"qr_png"`
}

// InviteQR is an invitation link as a QR code: a PNG of about 256 pixels,
// medium error correction.
func InviteQR(link string) ([]byte, error) {
	png, err := qrcode.Encode(link, qrcode.Medium, 256)
	if err != nil {
		return nil, fmt.Errorf("node: QR code: %w", err)
	}
	return png, nil
}

func (a *controlAPI) postNetworkInvite(w http.ResponseWriter, r *http.Request) {
	var req struct {
		// Expires is a Go duration ("24h", "30m"); "" never expires.
		Expires string `json:"expires"`
	}
	if err := decodeJSON(w, r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	var d time.Duration
	if req.Expires != "" {
		var err error
		if d, err = time.ParseDuration(req.Expires); err != nil || d <= 0 {
			writeError(w, http.StatusBadRequest, fmt.Errorf("%w: expires %q is not a positive duration such as 24h or 30m", errBadNetworkRequest, req.Expires))
			return
		}
	}
	link, err := a.n.Invite(d)
	if err != nil {
		writeError(w, statusFor(err), err)
		return
	}
	png, err := InviteQR(link)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	res := InviteResult{Invite: link, QRPNG: png}
	if d > 0 {
		t := time.Now().Add(d).UTC().Truncate(time.Second)
		res.Expires = &t
	}
	writeJSON(w, http.StatusOK, res)
}

func (a *controlAPI) postNetworkJoin(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Invite string `json:"invite"`
	}
	if err := decodeJSON(w, r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	info, err := a.n.JoinNetwork(req.Invite)
	if err != nil {
		writeError(w, statusFor(err), err)
		return
	}
	writeJSON(w, http.StatusOK, info)
}

func (a *controlAPI) postNetworkRekey(w http.ResponseWriter, r *http.Request) {
	res, err := a.n.Rekey(r.Context())
	if err != nil {
		writeError(w, statusFor(err), err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (a *controlAPI) postNetworkRemove(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ID string `json:"id"`
	}
	if err := decodeJSON(w, r, &req); err != nil || req.ID == "" {
		writeError(w, http.StatusBadRequest, fmt.Errorf("%w: give {\"id\": MEMBER ID or NAME}", errBadNetworkRequest))
		return
	}
	res, err := a.n.RemoveMember(r.Context(), req.ID)
	if err != nil {
		writeError(w, statusFor(err), err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// membersOnly passes on the connections of ln whose remote address is a
// member's (allow) and closes the others before a byte is sent or read,
// logging each address once. It guards the SMTP relay between members in
// a private network, which speaks SMTP in clear (STARTTLS aside) and so
// cannot take the key handshake: standard mail servers must be able to
// talk to it.
func membersOnly(ln net.Listener, allow func(netip.Addr) bool, log *slog.Logger) net.Listener {
	return &memberListener{Listener: ln, allow: allow, log: log, logged: map[netip.Addr]bool{}}
}

type memberListener struct {
	net.Listener
	allow  func(netip.Addr) bool
	log    *slog.Logger
	mu     sync.Mutex
	logged map[netip.Addr]bool
}

func (l *memberListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ap, _ := netip.ParseAddrPort(c.RemoteAddr().String())
		ip := ap.Addr().Unmap()
		if l.allow(ip) {
			return c, nil
		}
		c.Close()
		l.mu.Lock()
		first := !l.logged[ip]
		if first && len(l.logged) < 4096 {
			l.logged[ip] = true
		}
		l.mu.Unlock()
		if first {
			l.log.Warn("connection refused: not a member of the private network (logged once per address)", "remote", c.RemoteAddr().String())
		}
	}
}
