package tracker

import (
	"encoding/binary"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"

	"github.com/anacrolix/torrent/bencode"
)

// announce is a parsed announce request.
type announce struct {
	infoHash   [20]byte
	peerID     [20]byte
	addr       netip.AddrPort
	left       int64 // -1 when the client did not say
	event      string
	compact    bool
	noPeerID   bool
	numWant    int
	key        string
	uploaded   int64
	downloaded int64
}

// parseAnnounce reads an announce request. info_hash and peer_id are raw
// 20-byte strings, URL-escaped; port is required; uploaded, downloaded and
// left default to 0, 0 and unknown.
func (t *Tracker) parseAnnounce(r *http.Request) (*announce, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, fmt.Errorf("malformed query: %v", err)
	}
	a := &announce{left: -1, compact: true, numWant: t.cfg.DefaultNumWant}
	if err := fixed20(q, "info_hash", &a.infoHash); err != nil {
		return nil, err
	}
	if err := fixed20(q, "peer_id", &a.peerID); err != nil {
		return nil, err
	}
	port, err := strconv.ParseUint(q.Get("port"), 10, 16)
	if err != nil || port == 0 {
		return nil, fmt.Errorf("invalid or missing port %q", q.Get("port"))
	}
	src, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return nil, fmt.Errorf("cannot tell the client's address")
	}
	ip := src.Addr().Unmap()
	if given := q.Get("ip"); given != "" && ip.IsLoopback() {
		if g, err := netip.ParseAddr(given); err == nil && usable(g.Unmap()) {
			ip = g.Unmap()
		}
	}
	a.addr = netip.AddrPortFrom(ip, uint16(port))
	for name, dst := range map[string]*int64{"uploaded": &a.uploaded, "downloaded": &a.downloaded, "left": &a.left} {
		v := q.Get(name)
		if v == "" {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("invalid %s %q", name, v)
		}
		*dst = n
	}
	switch a.event = q.Get("event"); a.event {
	case "", "started", "stopped", "completed":
	case "empty", "paused": // sent by some clients for a regular announce
		a.event = ""
	default:
		return nil, fmt.Errorf("unknown event %q", a.event)
	}
	switch q.Get("compact") {
	case "", "1":
	case "0":
		a.compact = false
	default:
		return nil, fmt.Errorf("invalid compact %q", q.Get("compact"))
	}
	a.noPeerID = q.Get("no_peer_id") == "1"
	if v := q.Get("numwant"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < -1 {
			return nil, fmt.Errorf("invalid numwant %q", v)
		}
		if n >= 0 { // -1 means "default" for some clients
			a.numWant = min(n, t.cfg.MaxNumWant)
		}
	}
	a.key = q.Get("key")
	if len(a.key) > 64 {
		return nil, fmt.Errorf("key too long")
	}
	return a, nil
}

func fixed20(q url.Values, name string, dst *[20]byte) error {
	vs, ok := q[name]
	if !ok {
		return fmt.Errorf("missing %s", name)
	}
	if len(vs) != 1 || len(vs[0]) != 20 {
		return fmt.Errorf("%s must be 20 bytes, URL-escaped", name)
	}
	copy(dst[:], vs[0])
	return nil
}

// usable is an address a peer can be reached at.
func usable(a netip.Addr) bool {
	return a.IsValid() && !a.IsUnspecified() && !a.IsMulticast() && a.Zone() == ""
}

func (t *Tracker) serveAnnounce(w http.ResponseWriter, r *http.Request) {
	a, err := t.parseAnnounce(r)
	if err != nil {
		t.fail(w, r, err)
		return
	}
	if t.cfg.Allow != nil && !t.cfg.Allow(a.infoHash) {
		t.fail(w, r, fmt.Errorf("torrent %x is not tracked here", a.infoHash))
		return
	}
	t.mu.Lock()
	sw, err := t.update(a, t.cfg.Now())
	if err != nil {
		t.mu.Unlock()
		t.fail(w, r, err)
		return
	}
	info := sw.info()
	var peers []peerOut
	if a.event != "stopped" {
		peers = pick(sw, a.peerID, a.left == 0, a.numWant)
	}
	t.mu.Unlock()

	resp := map[string]any{
		"interval":     int64(t.cfg.Interval.Seconds()),
		"min interval": int64(t.cfg.MinInterval.Seconds()),
		"complete":     info.Complete,
		"incomplete":   info.Incomplete,
	}
	if a.compact {
		var v4, v6 []byte
		for _, p := range peers {
			// BEP 23 and BEP 7: the address bytes, then the port big-endian.
			if p.addr.Addr().Is4() {
				v4 = binary.BigEndian.AppendUint16(append(v4, p.addr.Addr().AsSlice()...), p.addr.Port())
			} else {
				v6 = binary.BigEndian.AppendUint16(append(v6, p.addr.Addr().AsSlice()...), p.addr.Port())
			}
		}
		resp["peers"] = string(v4)
		if len(v6) > 0 {
			resp["peers6"] = string(v6)
		}
	} else {
		list := make([]map[string]any, 0, len(peers))
		for _, p := range peers {
			d := map[string]any{"ip": p.addr.Addr().String(), "port": int(p.addr.Port())}
			if !a.noPeerID {
				d["peer id"] = string(p.id[:])
			}
			list = append(list, d)
		}
		resp["peers"] = list
	}
	writeBencode(w, resp)
}

// fail answers with a bencoded failure reason and status 200: clients show
// the reason only from a well-formed answer.
func (t *Tracker) fail(w http.ResponseWriter, r *http.Request, err error) {
	t.log.Debug("tracker: request refused", "remote", r.RemoteAddr, "path", r.URL.Path, "reason", err)
	writeBencode(w, map[string]any{"failure reason": err.Error()})
}

func writeBencode(w http.ResponseWriter, v any) {
	raw, err := bencode.Marshal(v)
	if err != nil {
		// Only maps, strings and ints are encoded here.
		http.Error(w, "tracker: encode answer: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Length", strconv.Itoa(len(raw)))
	w.Write(raw)
}
