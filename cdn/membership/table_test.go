package membership

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// converged checks that every node's table holds exactly want, all alive.
func converged(nodes []*testNode, want []string) error {
	for _, n := range nodes {
		if got := n.memberIDs(); !slices.Equal(got, want) {
			return fmt.Errorf("%s has %d members, want %d", n.name, len(got), len(want))
		}
		for _, m := range n.table.Members() {
			if m.State != Alive {
				return fmt.Errorf("%s sees %s %s", n.name, m.DisplayName, m.State)
			}
		}
	}
	return nil
}

func TestFiveNodesConverge(t *testing.T) {
	var nodes []*testNode
	for i := range 5 {
		nodes = append(nodes, newNode(t, fastConfig(fmt.Sprintf("n%d", i))))
	}
	// A chain: each node knows only the one before it.
	for i := 1; i < len(nodes); i++ {
		nodes[i].join(nodes[i-1])
	}
	for _, n := range nodes {
		n.run()
	}
	want := idsOf(nodes...)
	eventually(t, 10*time.Second, func() error { return converged(nodes, want) })

	// Members are pinged: each has a round trip and a last-seen time.
	eventually(t, 5*time.Second, func() error {
		for _, m := range nodes[0].table.Members() {
			if !m.Self && (m.RTT <= 0 || m.LastSeen.IsZero()) {
				return fmt.Errorf("%s: rtt %v, last seen %v", m.DisplayName, m.RTT, m.LastSeen)
			}
		}
		return nil
	})

	// A change of one node's record reaches every other node.
	rec, err := nodes[4].table.UpdateSelf(func(r *Record) {
		r.Zone = []ZoneRecord{{Name: "www", Type: "A", Value: "127.0.0.5", TTL: 60}}
		r.Ports["dns"] = 5353
	})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() error {
		for _, n := range nodes {
			m, ok := n.table.Member(rec.ID)
			if !ok || m.Record.Seq != rec.Seq || len(m.Record.Zone) != 1 || m.Record.Ports["dns"] != 5353 {
				return fmt.Errorf("%s has seq %d of n4, want %d", n.name, m.Record.Seq, rec.Seq)
			}
		}
		return nil
	})
	for _, n := range nodes {
		if m, _ := n.table.Lookup("n4"); m.Record.ID != rec.ID {
			t.Errorf("%s: Lookup(n4) = %q", n.name, m.Record.ID)
		}
	}
}

func TestStoppedMemberGoesDownThenIsRemovedAndMayComeBack(t *testing.T) {
	a := newNode(t, fastConfig("a"))
	b := newNode(t, fastConfig("b"))
	c := newNode(t, fastConfig("c"))
	b.join(a)
	c.join(a)

	var mu sync.Mutex
	var seen []string // kinds of changes of c, seen by a
	cancel := a.table.Subscribe(func(ch Change) {
		if ch.Member.Record.ID == c.id() {
			mu.Lock()
			seen = append(seen, ch.Kind.String()+":"+ch.Member.State.String())
			mu.Unlock()
		}
	})
	defer cancel()

	for _, n := range []*testNode{a, b, c} {
		n.run()
	}
	all := idsOf(a, b, c)
	eventually(t, 10*time.Second, func() error { return converged([]*testNode{a, b, c}, all) })

	c.stop()
	for _, n := range []*testNode{a, b} {
		eventually(t, 10*time.Second, func() error {
			m, ok := n.table.Member(c.id())
			if ok && m.State == Down {
				return nil
			}
			return fmt.Errorf("%s: c present=%v state=%v", n.name, ok, m.State)
		})
	}
	eventually(t, 10*time.Second, func() error { return converged([]*testNode{a, b}, idsOf(a, b)) })
	// Subscribers hear of it, in order.
	eventually(t, 5*time.Second, func() error {
		mu.Lock()
		events := strings.Join(seen, " ")
		mu.Unlock()
		if i := strings.Index(events, "state:down"); i < 0 || !strings.Contains(events[i:], "removed:down") {
			return fmt.Errorf("subscriber saw %q, want state:down then removed:down", events)
		}
		return nil
	})

	// c comes back (same key and database, new port) and is accepted again.
	c.start()
	c.run()
	c.join(b)
	eventually(t, 10*time.Second, func() error { return converged([]*testNode{a, b, c}, all) })
}

// post sends body to n's gossip endpoint and returns the status.
func post(t *testing.T, n *testNode, body []byte) int {
	t.Helper()
	resp, err := http.Post("http://"+n.addr()+PathGossip, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func gossipBody(t *testing.T, network string, from Record, recs ...Record) []byte {
	raw, err := json.Marshal(GossipRequest{Network: network, From: from, Records: recs})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestForgedRecordsAreRejected(t *testing.T) {
	a := newNode(t, fastConfig("a"))
	b := newNode(t, fastConfig("b"))
	b.join(a)
	good := b.table.Self()

	mallory := newSigner(t)
	mk := func(s keySigner, name string, seq uint64) Record {
		r := Record{Network: "test", Name: name, Seq: seq, Time: time.Now().UTC(),
			Addresses: []netip.Addr{netip.MustParseAddr("127.0.0.9")}, Ports: map[string]int{PeerPort: 9}}
		r.Sign(s)
		return r
	}
	honest := mk(mallory, "mallory", 10)

	badSig := honest.Clone()
	badSig.Name = "admin"
	wrongID := mk(mallory, "mallory", 11)
	wrongID.ID = b.id() // claims to be b, signed with mallory's key
	otherNet := mk(mallory, "mallory", 12)
	otherNet.Network = "elsewhere"
	otherNet.Sign(mallory)
	// b's record with a forged higher seq, signed by mallory.
	bForged := good.Clone()
	bForged.Seq += 100
	bForged.Name = "evil"
	bForged.Sig = mallory.Sign(bForged.SigningBytes())

	hard := []struct {
		name string
		body []byte
		log  string
	}{
		{"bad signature (relayed)", gossipBody(t, "test", good, badSig), "bad signature"},
		{"bad signature (sender)", gossipBody(t, "test", badSig), "bad signature"},
		{"id not of the key", gossipBody(t, "test", good, wrongID), "id does not match"},
		{"record of another network", gossipBody(t, "test", good, otherNet), "another network"},
		{"request of another network", gossipBody(t, "elsewhere", otherNet), "another network"},
		{"forged newer record of a member", gossipBody(t, "test", good, bForged), "bad signature"},
		{"not JSON", []byte("{\"network\": "), "gossip body"},
		{"no sender", []byte(`{"network":"test"}`), "invalid record"},
	}
	for _, tc := range hard {
		if got := post(t, a, tc.body); got != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400", tc.name, got)
		}
		if !a.logs.contains("refused", tc.log) {
			t.Errorf("%s: no log of the refusal with %q", tc.name, tc.log)
		}
	}
	if got := a.memberIDs(); !slices.Equal(got, idsOf(a, b)) {
		t.Fatalf("after forged records a has %d members, want 2 (nothing stored)", len(got))
	}
	if m, _ := a.table.Member(b.id()); m.Record.Seq != good.Seq || m.Record.Name != "b" {
		t.Fatalf("b's record changed to seq %d name %q", m.Record.Seq, m.Record.Name)
	}

	// A replay of an older record of b after b moved on is not stored.
	old := b.table.Self()
	newer, err := b.table.UpdateSelf(func(r *Record) { r.Services = []string{"dns"} })
	if err != nil {
		t.Fatal(err)
	}
	if newer.Seq <= old.Seq {
		t.Fatalf("seq did not grow: %d -> %d", old.Seq, newer.Seq)
	}
	if got := post(t, a, gossipBody(t, "test", newer)); got != http.StatusOK {
		t.Fatalf("b's new record: status %d", got)
	}
	if got := post(t, a, gossipBody(t, "test", honest, old)); got != http.StatusOK {
		t.Fatalf("replay: status %d, want 200 (a stale record is skipped, not an error)", got)
	}
	if m, _ := a.table.Member(b.id()); m.Record.Seq != newer.Seq {
		t.Fatalf("replayed seq %d replaced %d", m.Record.Seq, newer.Seq)
	}
	if !a.logs.contains("record rejected", "not above the stored") {
		t.Error("the stale record was not logged")
	}

	// Direct calls give the reasons as errors.
	for _, tc := range []struct {
		r    Record
		want error
	}{{badSig, ErrBadSignature}, {wrongID, ErrIDMismatch}, {otherNet, ErrWrongNetwork}} {
		if err := a.table.check(&tc.r); !errors.Is(err, tc.want) {
			t.Errorf("check: %v, want %v", err, tc.want)
		}
	}
}

func TestNameConflict(t *testing.T) {
	first := newNode(t, fastConfig("web"))
	time.Sleep(time.Millisecond) // claim times must differ; they are the test's subject
	second := newNode(t, fastConfig("web"))
	other := newNode(t, fastConfig("db"))
	// The later claimant joins first, so "first seen" here is not "earliest".
	other.join(second)
	first.join(other)
	nodes := []*testNode{first, second, other}
	for _, n := range nodes {
		n.run()
	}
	eventually(t, 10*time.Second, func() error { return converged(nodes, idsOf(nodes...)) })
	want := map[string]string{first.id(): "web", second.id(): "web-" + second.id()[:6], other.id(): "db"}
	for _, n := range nodes {
		for _, m := range n.table.Members() {
			if m.DisplayName != want[m.Record.ID] {
				t.Errorf("%s shows %s (claims %q) as %q, want %q",
					n.name, m.Record.ID[:6], m.Record.Name, m.DisplayName, want[m.Record.ID])
			}
		}
	}
	if !other.logs.contains("name claim refused", "shown_as=web-"+second.id()[:6]) {
		t.Error("the refused claim was not logged")
	}

	// The later claimant renames itself: the conflict is gone everywhere.
	if _, err := second.table.UpdateSelf(func(r *Record) { r.Name = "web2" }); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() error {
		for _, n := range nodes {
			if m, ok := n.table.Lookup("web2"); !ok || m.Record.ID != second.id() {
				return fmt.Errorf("%s does not show web2", n.name)
			}
		}
		return nil
	})
}

func TestRestartKeepsTheMemberTable(t *testing.T) {
	a := newNode(t, fastConfig("a"))
	b := newNode(t, fastConfig("b"))
	c := newNode(t, fastConfig("c"))
	b.join(a)
	c.join(a)
	nodes := []*testNode{a, b, c}
	for _, n := range nodes {
		n.run()
	}
	all := idsOf(nodes...)
	eventually(t, 10*time.Second, func() error { return converged(nodes, all) })
	before := a.table.Self()

	a.stop()
	a.start()
	// Right after the restart, before any gossip, the table is there.
	if got := a.memberIDs(); !slices.Equal(got, all) {
		t.Fatalf("after restart a has %d members, want %d", len(got), len(all))
	}
	after := a.table.Self()
	if after.Seq <= before.Seq || after.NameSince != before.NameSince {
		t.Fatalf("restart: seq %d -> %d, name since %v -> %v", before.Seq, after.Seq, before.NameSince, after.NameSince)
	}
	// With no join, a finds the others from its stored table, and they
	// learn its new record (it has a new port).
	a.run()
	eventually(t, 10*time.Second, func() error {
		if err := converged(nodes, all); err != nil {
			return err
		}
		for _, n := range []*testNode{b, c} {
			if m, _ := n.table.Member(a.id()); m.Record.Seq != after.Seq {
				return fmt.Errorf("%s has a's seq %d, want %d", n.name, m.Record.Seq, after.Seq)
			}
		}
		return nil
	})
}

func TestSeedsAreJoinedByRun(t *testing.T) {
	a := newNode(t, fastConfig("a"))
	cfg := fastConfig("b")
	cfg.Seeds = []string{"127.0.0.1:1", a.addr()} // the first refuses
	b := newNode(t, cfg)
	a.run()
	b.run()
	eventually(t, 10*time.Second, func() error { return converged([]*testNode{a, b}, idsOf(a, b)) })
}

// mapDHT stands in for the node's DHT: a shared map of key -> peers.
type mapDHT struct {
	mu    sync.Mutex
	peers map[[20]byte][]netip.AddrPort
}

func (d *mapDHT) DHTAnnounce(_ context.Context, key [20]byte, port int) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	ap := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port))
	if !slices.Contains(d.peers[key], ap) {
		d.peers[key] = append(d.peers[key], ap)
	}
	return nil
}

func (d *mapDHT) DHTPeers(_ context.Context, key [20]byte) ([]netip.AddrPort, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.peers[key]), nil
}

func TestDiscoveryThroughTheDHT(t *testing.T) {
	dht := &mapDHT{peers: map[[20]byte][]netip.AddrPort{}}
	var nodes []*testNode
	for i := range 3 {
		cfg := fastConfig(fmt.Sprintf("d%d", i))
		cfg.DHT = dht
		cfg.DHTInterval = 100 * time.Millisecond
		nodes = append(nodes, newNode(t, cfg))
	}
	for _, n := range nodes {
		n.run()
	}
	eventually(t, 10*time.Second, func() error { return converged(nodes, idsOf(nodes...)) })
	if _, ok := dht.peers[DHTKey("test")]; !ok {
		t.Fatal("nothing announced under DHTKey(test)")
	}
}

func TestPeerAPIRoutes(t *testing.T) {
	a := newNode(t, fastConfig("a"))
	resp, err := http.Get("http://" + a.addr() + PathRecord)
	if err != nil {
		t.Fatal(err)
	}
	var rec Record
	json.NewDecoder(resp.Body).Decode(&rec)
	resp.Body.Close()
	if err := rec.Verify(); err != nil || rec.ID != a.id() {
		t.Fatalf("GET record: %v, id %s", err, rec.ID)
	}
	resp, err = http.Get("http://" + a.addr() + PathPing)
	if err != nil {
		t.Fatal(err)
	}
	var pr PingResponse
	json.NewDecoder(resp.Body).Decode(&pr)
	resp.Body.Close()
	if pr.ID != a.id() || pr.Seq != rec.Seq || pr.Network != "test" {
		t.Fatalf("ping = %+v", pr)
	}
	resp, err = http.Get("http://" + a.addr() + PathGossip)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET gossip: %d, want 405", resp.StatusCode)
	}
}

func TestStrayNewerSelfRecordIsOutrun(t *testing.T) {
	a := newNode(t, fastConfig("a"))
	b := newNode(t, fastConfig("b"))
	// A copy of b's record with a higher seq, signed with b's key (a
	// restored backup of b, say), reaches b through a.
	stray := b.table.Self()
	stray.Seq += 1000
	stray.Sign(b.signer)
	if got := post(t, a, gossipBody(t, "test", stray)); got != http.StatusOK {
		t.Fatalf("status %d", got)
	}
	b.join(a)
	if self := b.table.Self(); self.Seq <= stray.Seq {
		t.Fatalf("b's seq %d is not above the stray %d", self.Seq, stray.Seq)
	}
	a.join(b)
	if m, _ := a.table.Member(b.id()); m.Record.Seq != b.table.Self().Seq {
		t.Fatalf("a has b at seq %d, b is at %d", m.Record.Seq, b.table.Self().Seq)
	}
}
