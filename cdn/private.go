package cdn

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/shoal-p2p/shoal/cdn/membership"
	"github.com/shoal-p2p/shoal/cdn/peertls"
	"github.com/shoal-p2p/shoal/cdn/pnet"
)

// This file is what a private network changes in the CDN: how members
// connect (the key handshake of cdn/pnet, then TLS), whom BitTorrent
// talks to, what the DHT announces under, and the rekey that hands a new
// key to the members.

// ErrOpenNetwork is an operation only a private network has.
var ErrOpenNetwork = errors.New("cdn: the network is open (it has no key)")

// Private says whether the network is private (it has a key).
func (c *CDN) Private() bool { return c.cfg.NetworkKey != nil }

// KeyFingerprint names the network key in use ("" in an open network).
func (c *CDN) KeyFingerprint() string {
	if !c.Private() {
		return ""
	}
	k, _ := c.cfg.NetworkKey.Current()
	return k.Fingerprint()
}

// NetworkKey is the key in use; ok is false in an open network.
func (c *CDN) NetworkKey() (k pnet.Key, ok bool) {
	if !c.Private() {
		return k, false
	}
	k, _ = c.cfg.NetworkKey.Current()
	return k, true
}

// RefusedAtHandshake counts the peer connections refused for want of the
// key since Start (0 in an open network).
func (c *CDN) RefusedAtHandshake() int64 {
	if c.gate == nil {
		return 0
	}
	return c.gate.Refused()
}

// dialTimeout bounds connecting to a member's peer port.
const dialTimeout = 2 * time.Second

// dialRaw connects to a member's peer port: plain TCP in an open network;
// in a private one TCP and the key handshake, on which TLS runs next.
func (c *CDN) dialRaw(ctx context.Context, network, addr string) (net.Conn, error) {
	d := &net.Dialer{Timeout: dialTimeout}
	if !c.Private() {
		return d.DialContext(ctx, network, addr)
	}
	pd := &pnet.Dialer{Keys: c.cfg.NetworkKey, Dial: d.DialContext, Timeout: 5 * time.Second}
	return pd.DialContext(ctx, network, addr)
}

// DialPeer connects to a member's peer port for plain HTTP requests (the
// gateway, sites): in an open network a TCP connection; in a private one a
// TLS connection inside the key handshake, showing this node's
// certificate, so "http://MEMBER/..." requests sent on it travel
// encrypted and are let in. Use it as an http.Transport's DialContext.
func (c *CDN) DialPeer(ctx context.Context, network, addr string) (net.Conn, error) {
	raw, err := c.dialRaw(ctx, network, addr)
	if err != nil || !c.Private() {
		return raw, err
	}
	conf := &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{c.cert},
		NextProtos: []string{"http/1.1"}, InsecureSkipVerify: true} // the key handshake vouches for a member
	conn := tls.Client(raw, conf)
	if err := conn.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, fmt.Errorf("cdn: TLS with %s: %w", addr, err)
	}
	return conn, nil
}

// IsMemberAddr says whether ip is an address of a member (BitTorrent in a
// private network connects to and from these only).
func (c *CDN) IsMemberAddr(ip netip.Addr) bool {
	t := c.table.Load()
	if t == nil {
		return false
	}
	for _, m := range t.Members() {
		if slices.Contains(m.Record.Addresses, ip) {
			return true
		}
	}
	return false
}

// dhtKey is what members announce under in a private network: a hash of
// a value derived from the key, which outsiders cannot compute (nil, the
// network name's hash, in an open one).
func (c *CDN) dhtKey() func() [20]byte {
	if !c.Private() {
		return nil
	}
	return func() [20]byte {
		k, _ := c.cfg.NetworkKey.Current()
		return sha1.Sum(k.Derive("shoal-dht-v1 " + c.cfg.Network))
	}
}

// PathNetworkKey is the peer route by which a member hands the others a
// new key.
const PathNetworkKey = "/peer/v1/network/key"

// rekeyRequest carries a new key to a member, over TLS inside the current
// key's handshake, and the members to drop, who do not get it.
type rekeyRequest struct {
	Network string   `json:"network"`
	Key     []byte   `json:"key"`
	Remove  []string `json:"remove,omitempty"`
}

func (c *CDN) rekeyRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST "+PathNetworkKey, c.serveRekey)
}

// serveRekey takes a new key from a member: only in a private network,
// over TLS, from a caller whose certificate is a member's.
func (c *CDN) serveRekey(w http.ResponseWriter, r *http.Request) {
	refuse := func(status int, err error) {
		c.cfg.Log.Warn("cdn: rekey refused", "remote", r.RemoteAddr, "reason", err)
		writeError(w, status, err)
	}
	if !c.Private() {
		refuse(http.StatusNotFound, ErrOpenNetwork)
		return
	}
	k := peertls.PeerKey(r.TLS)
	if k == nil {
		refuse(http.StatusForbidden, errors.New("cdn: a rekey comes over TLS with a member's certificate"))
		return
	}
	from := membership.NodeID(k)
	if m, ok := c.Members.Member(from); !ok || m.Self {
		refuse(http.StatusForbidden, fmt.Errorf("cdn: rekey from %s, not a member", from))
		return
	}
	var req rekeyRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&req); err != nil {
		refuse(http.StatusBadRequest, fmt.Errorf("cdn: rekey body: %w", err))
		return
	}
	if req.Network != c.cfg.Network || len(req.Key) != pnet.KeySize {
		refuse(http.StatusBadRequest, fmt.Errorf("cdn: rekey for network %q with a key of %d bytes", req.Network, len(req.Key)))
		return
	}
	var nk pnet.Key
	copy(nk[:], req.Key)
	// Two members rekeying at once would each wait for the other's lock.
	if !c.rekeyMu.TryLock() {
		refuse(http.StatusConflict, errors.New("cdn: this node is rekeying; try again"))
		return
	}
	defer c.rekeyMu.Unlock()
	if err := c.storeKey(nk, req.Remove); err != nil {
		refuse(http.StatusInternalServerError, err)
		return
	}
	// The answer goes out on this connection, of the old key, before the
	// new key closes those.
	answer, _ := json.Marshal(map[string]string{"fingerprint": nk.Fingerprint()})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(answer)))
	w.Write(answer)
	http.NewResponseController(w).Flush()
	c.cfg.NetworkKey.Set(nk)
	c.cfg.Log.Info("cdn: new network key from a member", "from", from, "fingerprint", nk.Fingerprint(), "removed", len(req.Remove))
}

// storeKey drops the members in remove and writes k to the key file.
// Called with rekeyMu held.
func (c *CDN) storeKey(k pnet.Key, remove []string) error {
	for _, id := range remove {
		if id != c.Members.ID() {
			if err := c.Members.Remove(id); err != nil && !errors.Is(err, membership.ErrNotMember) {
				return err
			}
		}
	}
	if c.cfg.KeyFile != "" {
		if err := pnet.SaveKey(c.cfg.KeyFile, k); err != nil {
			return fmt.Errorf("cdn: %w", err)
		}
	}
	return nil
}

// RekeyResult says which members got the new key.
type RekeyResult struct {
	Fingerprint string            `json:"fingerprint"`
	Sent        []string          `json:"sent"`
	Failed      map[string]string `json:"failed"`
	Removed     []string          `json:"removed"`
}

// Rekey makes a new network key, hands it to every member that answers
// (over TLS inside the current key's handshake), and then takes it: a
// member that was down misses it and needs a new invitation. The members
// in remove are dropped first, here and at every member, and are not sent
// the key: run it after a member leaves, to shut it out.
func (c *CDN) Rekey(ctx context.Context, remove []string) (RekeyResult, error) {
	var res RekeyResult
	if !c.Private() {
		return res, ErrOpenNetwork
	}
	c.rekeyMu.Lock()
	defer c.rekeyMu.Unlock()
	for _, id := range remove {
		if _, ok := c.Members.Member(id); !ok {
			return res, fmt.Errorf("cdn: %w: %s", membership.ErrNotMember, id)
		}
		if id == c.Members.ID() {
			return res, fmt.Errorf("cdn: %s is this node", id)
		}
	}
	nk, err := pnet.NewKey()
	if err != nil {
		return res, err
	}
	for _, id := range remove {
		if err := c.Members.Remove(id); err != nil {
			return res, err
		}
	}
	res.Removed = append([]string{}, remove...)
	body, _ := json.Marshal(rekeyRequest{Network: c.cfg.Network, Key: nk[:], Remove: remove})
	res.Failed = map[string]string{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, m := range c.Members.Members() {
		if m.Self || slices.Contains(remove, m.ID()) {
			continue
		}
		addrs := m.Record.PeerAddrs()
		if len(addrs) == 0 {
			continue
		}
		wg.Go(func() {
			err := c.sendKey(ctx, m.ID(), addrs[0], body)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				res.Failed[m.ID()] = err.Error()
			} else {
				res.Sent = append(res.Sent, m.ID())
			}
		})
	}
	wg.Wait()
	slices.Sort(res.Sent)
	if err := c.storeKey(nk, nil); err != nil {
		return res, err
	}
	c.cfg.NetworkKey.Set(nk)
	res.Fingerprint = nk.Fingerprint()
	c.cfg.Log.Info("cdn: network rekeyed", "fingerprint", res.Fingerprint, "sent", len(res.Sent), "failed", len(res.Failed), "removed", len(remove))
	return res, nil
}

func (c *CDN) sendKey(ctx context.Context, id, addr string, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(peertls.WithPeer(ctx, id), http.MethodPost, "https://"+addr+PathNetworkKey, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.clients[0].Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("cdn: %s: %s: %s", addr, resp.Status, msg)
	}
	return nil
}

func writeError(w http.ResponseWriter, status int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
}
