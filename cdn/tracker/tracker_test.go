package tracker

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anacrolix/torrent/bencode"
)

// clock is a settable Now for expiry tests.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func newServer(t *testing.T, cfg Config) (*Tracker, *httptest.Server, *clock) {
	t.Helper()
	clk := &clock{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	if cfg.Now == nil {
		cfg.Now = clk.Now
	}
	tr := New(cfg)
	mux := http.NewServeMux()
	tr.Routes(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return tr, srv, clk
}

// hash20 is a 20-byte value full of bytes that need escaping.
func hash20(tag byte) [20]byte {
	var h [20]byte
	copy(h[:], []byte{0x00, '%', '&', '+', '=', ' ', 0xff, '?', '#', tag})
	for i := 10; i < 20; i++ {
		h[i] = byte(i*13) ^ tag
	}
	return h
}

type req struct {
	ih, id     [20]byte
	port       int
	left       int64
	event, ip  string
	compact    string
	numwant    string
	noPeerID   bool
	key, extra string
}

func (r req) query() string {
	q := url.Values{}
	q.Set("info_hash", string(r.ih[:]))
	q.Set("peer_id", string(r.id[:]))
	q.Set("port", fmt.Sprint(r.port))
	q.Set("uploaded", "0")
	q.Set("downloaded", "0")
	q.Set("left", fmt.Sprint(r.left))
	for k, v := range map[string]string{"event": r.event, "ip": r.ip, "compact": r.compact, "numwant": r.numwant, "key": r.key} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if r.noPeerID {
		q.Set("no_peer_id", "1")
	}
	s := q.Encode()
	if r.extra != "" {
		s += "&" + r.extra
	}
	return s
}

// response is an announce answer in either peer format.
type response struct {
	Failure    string `bencode:"failure reason"`
	Interval   int    `bencode:"interval"`
	MinIntvl   int    `bencode:"min interval"`
	Complete   int    `bencode:"complete"`
	Incomplete int    `bencode:"incomplete"`
	Peers      any    `bencode:"peers"`
	Peers6     string `bencode:"peers6"`
}

func get(t *testing.T, rawURL string) []byte {
	t.Helper()
	resp, err := http.Get(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", rawURL, resp.Status)
	}
	raw, _ := io.ReadAll(resp.Body)
	return raw
}

func doAnnounce(t *testing.T, srv *httptest.Server, r req) response {
	t.Helper()
	raw := get(t, srv.URL+PathAnnounce+"?"+r.query())
	var out response
	if err := bencode.Unmarshal(raw, &out); err != nil {
		t.Fatalf("decode %q: %v", raw, err)
	}
	return out
}

func compactPeers(t *testing.T, s string, size int) []netip.AddrPort {
	t.Helper()
	if len(s)%size != 0 {
		t.Fatalf("compact peers of %d bytes", len(s))
	}
	var out []netip.AddrPort
	for i := 0; i < len(s); i += size {
		a, _ := netip.AddrFromSlice([]byte(s[i : i+size-2]))
		out = append(out, netip.AddrPortFrom(a, binary.BigEndian.Uint16([]byte(s[i+size-2:i+size]))))
	}
	return out
}

func TestAnnounceCompactAndDict(t *testing.T) {
	tr, srv, _ := newServer(t, Config{Interval: time.Minute})
	ih := hash20(1)
	seed := req{ih: ih, id: hash20(2), port: 6001, left: 0, event: "started"}
	leech := req{ih: ih, id: hash20(3), port: 6002, left: 100, event: "started"}

	r := doAnnounce(t, srv, seed)
	if r.Failure != "" {
		t.Fatalf("failure: %s", r.Failure)
	}
	if r.Interval != 60 || r.MinIntvl != 15 || r.Complete != 1 || r.Incomplete != 0 {
		t.Fatalf("first answer %+v", r)
	}
	if p, _ := r.Peers.(string); p != "" {
		t.Fatalf("a lone seeder got peers %q", p)
	}

	r = doAnnounce(t, srv, leech)
	got := compactPeers(t, r.Peers.(string), 6)
	if len(got) != 1 || got[0] != netip.MustParseAddrPort("127.0.0.1:6001") {
		t.Fatalf("leecher got %v, want the seeder", got)
	}
	if r.Complete != 1 || r.Incomplete != 1 {
		t.Fatalf("counts %d/%d", r.Complete, r.Incomplete)
	}

	// Non-compact, with and without peer ids.
	seed.event, seed.compact = "", "0"
	r = doAnnounce(t, srv, seed)
	list, ok := r.Peers.([]any)
	if !ok || len(list) != 1 {
		t.Fatalf("dict peers = %#v", r.Peers)
	}
	d := list[0].(map[string]any)
	if d["ip"] != "127.0.0.1" || d["port"] != int64(6002) || d["peer id"] != string(leech.id[:]) {
		t.Fatalf("dict peer = %#v", d)
	}
	seed.noPeerID = true
	r = doAnnounce(t, srv, seed)
	if _, has := r.Peers.([]any)[0].(map[string]any)["peer id"]; has {
		t.Fatal("no_peer_id=1 still sent peer ids")
	}

	// A seeder gets the leechers first, then the other seeders (a magnet
	// client without the metadata says left=0 too); a leecher gets
	// everyone else.
	seed2 := req{ih: ih, id: hash20(4), port: 6003, left: 0}
	r = doAnnounce(t, srv, seed2)
	if got := compactPeers(t, r.Peers.(string), 6); len(got) != 2 || got[0].Port() != 6002 || got[1].Port() != 6001 {
		t.Fatalf("second seeder got %v, want the leecher, then the other seeder", got)
	}
	seed2.numwant = "1"
	if got := compactPeers(t, doAnnounce(t, srv, seed2).Peers.(string), 6); len(got) != 1 || got[0].Port() != 6002 {
		t.Fatalf("second seeder with numwant=1 got %v, want the leecher", got)
	}
	leech.event = ""
	if got := compactPeers(t, doAnnounce(t, srv, leech).Peers.(string), 6); len(got) != 2 {
		t.Fatalf("leecher got %v, want both seeders", got)
	}
	leech.numwant = "1"
	if got := compactPeers(t, doAnnounce(t, srv, leech).Peers.(string), 6); len(got) != 1 {
		t.Fatalf("numwant=1 gave %d peers", len(got))
	}

	// Completed counts once; stopped removes.
	leech.left, leech.event = 0, "completed"
	doAnnounce(t, srv, leech)
	doAnnounce(t, srv, leech)
	if s, _ := tr.Swarm(ih); s != (Swarm{Complete: 3, Incomplete: 0, Downloaded: 1}) {
		t.Fatalf("swarm after completed = %+v", s)
	}
	leech.event = "stopped"
	if r := doAnnounce(t, srv, leech); r.Failure != "" || r.Complete != 2 {
		t.Fatalf("stopped: %+v", r)
	}
	if st := tr.Stats(); st != (Stats{Torrents: 1, Peers: 2, Seeders: 2}) {
		t.Fatalf("stats = %+v", st)
	}
}

// A client that restarts announces a new peer id from the same address:
// its old entry is replaced, not handed out (to others and to itself) next
// to the new one until it expires. transmission-cli got itself three
// times this way.
func TestRestartedClientReplacesItsEntry(t *testing.T) {
	tr, srv, _ := newServer(t, Config{Interval: time.Minute})
	ih := hash20(1)
	// A lone client restarts: the swarm keeps it.
	doAnnounce(t, srv, req{ih: ih, id: hash20(2), port: 6002, left: 100, event: "started"})
	doAnnounce(t, srv, req{ih: ih, id: hash20(3), port: 6002, left: 100, event: "started"})
	if s, ok := tr.Swarm(ih); !ok || s != (Swarm{Incomplete: 1}) {
		t.Fatalf("swarm after a lone client restarted = %+v, %v", s, ok)
	}
	r := doAnnounce(t, srv, req{ih: ih, id: hash20(4), port: 6001, left: 0, event: "started"})
	if got := compactPeers(t, r.Peers.(string), 6); len(got) != 1 || got[0].Port() != 6002 {
		t.Fatalf("the seeder got %v, want the client once", got)
	}
	// The client restarts again: the seeder stays, the client is there once.
	r = doAnnounce(t, srv, req{ih: ih, id: hash20(5), port: 6002, left: 100, event: "started"})
	if got := compactPeers(t, r.Peers.(string), 6); len(got) != 1 || got[0].Port() != 6001 {
		t.Fatalf("the restarted client got %v, want the seeder only", got)
	}
	if st := tr.Stats(); st != (Stats{Torrents: 1, Peers: 2, Seeders: 1}) {
		t.Fatalf("stats = %+v", st)
	}

	// A full tracker still takes a restarted client: its entry is replaced.
	full, fullSrv, _ := newServer(t, Config{Interval: time.Minute, MaxPeers: 1})
	doAnnounce(t, fullSrv, req{ih: ih, id: hash20(2), port: 6002, left: 100, event: "started"})
	if r := doAnnounce(t, fullSrv, req{ih: ih, id: hash20(3), port: 6002, left: 100, event: "started"}); r.Failure != "" {
		t.Fatalf("a full tracker refused a restarted client: %s", r.Failure)
	}
	if st := full.Stats(); st != (Stats{Torrents: 1, Peers: 1}) {
		t.Fatalf("full tracker's stats = %+v", st)
	}
}

func TestPeersExpireAfterTwoIntervals(t *testing.T) {
	tr, srv, clk := newServer(t, Config{Interval: time.Minute, MaxPeers: 2})
	ih := hash20(9)
	a := req{ih: ih, id: hash20(10), port: 7001, left: 5}
	b := req{ih: ih, id: hash20(11), port: 7002, left: 5}
	c := req{ih: hash20(12), id: hash20(13), port: 7003, left: 5}
	doAnnounce(t, srv, a)
	clk.advance(90 * time.Second)
	doAnnounce(t, srv, b)
	// Full: the size bound refuses a third peer.
	if r := doAnnounce(t, srv, c); !strings.Contains(r.Failure, "full") {
		t.Fatalf("third peer with MaxPeers=2: %+v", r)
	}
	clk.advance(31 * time.Second) // a is 121 s old: past 2 × interval
	if got := compactPeers(t, doAnnounce(t, srv, b).Peers.(string), 6); len(got) != 0 {
		t.Fatalf("expired peer still given: %v", got)
	}
	if r := doAnnounce(t, srv, c); r.Failure != "" {
		t.Fatalf("room again after expiry, but: %s", r.Failure)
	}
	clk.advance(121 * time.Second)
	if st := tr.Stats(); st.Peers != 0 || st.Torrents != 0 {
		t.Fatalf("after everyone expired: %+v", st)
	}
}

func TestBadAnnouncesGetFailureReasons(t *testing.T) {
	_, srv, _ := newServer(t, Config{Allow: func(ih [20]byte) bool { return ih != hash20(66) }})
	good := req{ih: hash20(1), id: hash20(2), port: 6881, left: 1}
	cases := map[string]string{
		"no info_hash":    strings.Replace(good.query(), "info_hash=", "x=", 1),
		"short info_hash": "info_hash=abc&" + strings.SplitN(good.query(), "&", 2)[1],
		"no peer_id":      strings.Replace(good.query(), "peer_id=", "x=", 1),
		"no port":         strings.Replace(good.query(), "port=6881", "", 1),
		"port 0":          strings.Replace(good.query(), "port=6881", "port=0", 1),
		"port 70000":      strings.Replace(good.query(), "port=6881", "port=70000", 1),
		"negative left":   strings.Replace(good.query(), "left=1", "left=-1", 1),
		"event":           good.query() + "&event=exploded",
		"compact":         good.query() + "&compact=2",
		"numwant":         good.query() + "&numwant=lots",
		"bad escape":      good.query() + "&x=%zz",
		"not allowed":     req{ih: hash20(66), id: hash20(2), port: 6881}.query(),
	}
	for name, q := range cases {
		raw := get(t, srv.URL+PathAnnounce+"?"+q)
		var r response
		if err := bencode.Unmarshal(raw, &r); err != nil || r.Failure == "" {
			t.Errorf("%s: answer %q, want a failure reason (err %v)", name, raw, err)
		}
	}
	// Nothing was stored by the failures.
	if r := doAnnounce(t, srv, good); r.Complete+r.Incomplete != 1 {
		t.Fatalf("after bad announces the swarm has %d peers", r.Complete+r.Incomplete)
	}
}

func TestIPParameterOnlyFromLoopback(t *testing.T) {
	tr := New(Config{})
	ih := hash20(20)
	do := func(remote string, r req) response {
		w := httptest.NewRecorder()
		hr := httptest.NewRequest(http.MethodGet, PathAnnounce+"?"+r.query(), nil)
		hr.RemoteAddr = remote
		tr.ServeHTTP(w, hr)
		var out response
		if err := bencode.Unmarshal(w.Body.Bytes(), &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	// From afar, ip is ignored: the peer is where the request came from.
	do("192.0.2.7:5555", req{ih: ih, id: hash20(21), port: 1111, left: 1, ip: "198.51.100.1"})
	// From loopback, ip is honoured, IPv6 too (BEP 7 peers6).
	do("127.0.0.1:5555", req{ih: ih, id: hash20(22), port: 2222, left: 1, ip: "127.0.0.3"})
	do("[::1]:5555", req{ih: ih, id: hash20(23), port: 3333, left: 1, ip: "::1"})
	r := do("127.0.0.1:5555", req{ih: ih, id: hash20(24), port: 4444, left: 1})
	v4 := compactPeers(t, r.Peers.(string), 6)
	v6 := compactPeers(t, r.Peers6, 18)
	want4 := map[netip.AddrPort]bool{
		netip.MustParseAddrPort("192.0.2.7:1111"): true,
		netip.MustParseAddrPort("127.0.0.3:2222"): true,
	}
	if len(v4) != 2 || !want4[v4[0]] || !want4[v4[1]] {
		t.Errorf("IPv4 peers %v, want %v", v4, want4)
	}
	if len(v6) != 1 || v6[0] != netip.MustParseAddrPort("[::1]:3333") {
		t.Errorf("IPv6 peers %v", v6)
	}

	// A known peer id from another address with another key is refused.
	do("127.0.0.1:1", req{ih: ih, id: hash20(25), port: 5555, left: 1, key: "k1"})
	if r := do("192.0.2.99:1", req{ih: ih, id: hash20(25), port: 6666, left: 1, key: "k2"}); r.Failure == "" {
		t.Error("peer id hijack with another key accepted")
	}
}

func TestScrape(t *testing.T) {
	_, srv, _ := newServer(t, Config{})
	ih1, ih2 := hash20(30), hash20(31)
	doAnnounce(t, srv, req{ih: ih1, id: hash20(32), port: 1, left: 0})
	doAnnounce(t, srv, req{ih: ih1, id: hash20(33), port: 2, left: 9})
	doAnnounce(t, srv, req{ih: ih2, id: hash20(34), port: 3, left: 9, event: "completed"})
	type counts struct {
		Complete   int `bencode:"complete"`
		Incomplete int `bencode:"incomplete"`
		Downloaded int `bencode:"downloaded"`
	}
	var out struct {
		Files map[string]counts `bencode:"files"`
	}
	unknown := hash20(99)
	q := url.Values{"info_hash": {string(ih1[:]), string(unknown[:])}}
	if err := bencode.Unmarshal(get(t, srv.URL+PathScrape+"?"+q.Encode()), &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Files) != 1 || out.Files[string(ih1[:])] != (counts{1, 1, 0}) {
		t.Fatalf("scrape ih1 = %+v", out.Files)
	}
	out.Files = nil
	if err := bencode.Unmarshal(get(t, srv.URL+PathScrape), &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Files) != 2 || out.Files[string(ih2[:])] != (counts{0, 1, 1}) {
		t.Fatalf("scrape all = %+v", out.Files)
	}
	if !bytes.Contains(get(t, srv.URL+PathScrape+"?info_hash=short"), []byte("failure reason")) {
		t.Fatal("bad scrape hash accepted")
	}
}
