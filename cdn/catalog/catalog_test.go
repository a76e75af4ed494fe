package catalog

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestLocalCatalog(t *testing.T) {
	n := newNode(t, "solo")
	if err := n.cat.AddLocal(Item{InfoHash: "xyz", Name: "x"}); err == nil {
		t.Error("bad info hash accepted")
	}
	bad := item("a")
	bad.Name = ""
	if err := n.cat.AddLocal(bad); err == nil {
		t.Error("empty name accepted")
	}
	bad = item("a")
	bad.Magnet = "http://example.com/"
	if err := n.cat.AddLocal(bad); err == nil {
		t.Error("non-magnet link accepted")
	}
	if v := n.cat.Version(); v != 0 || len(n.cat.Local()) != 0 {
		t.Fatalf("after refused items: version %d, %d items", v, len(n.cat.Local()))
	}

	a := item("Alpha")
	a.InfoHash = strings.ToUpper(a.InfoHash)
	if err := n.cat.AddLocal(a); err != nil {
		t.Fatal(err)
	}
	v1 := n.cat.Version()
	if v1 == 0 || n.table.Self().CatalogVersion != v1 {
		t.Fatalf("version %d, record shows %d", v1, n.table.Self().CatalogVersion)
	}
	got := n.cat.Local()
	if len(got) != 1 || got[0].InfoHash != strings.ToLower(a.InfoHash) || got[0].Publisher != n.id() ||
		got[0].PublisherName != "solo" || got[0].Published.IsZero() {
		t.Fatalf("local = %+v", got)
	}
	// The same item again changes nothing.
	a.Published = time.Time{}
	if err := n.cat.AddLocal(a); err != nil || n.cat.Version() != v1 {
		t.Fatalf("re-adding: err %v, version %d -> %d", err, v1, n.cat.Version())
	}
	b := item("Beta")
	if err := n.cat.AddLocal(b); err != nil {
		t.Fatal(err)
	}
	if err := n.cat.RemoveLocal(a.InfoHash); err != nil {
		t.Fatal(err)
	}
	v3 := n.cat.Version()
	if v3 <= v1 || n.table.Self().CatalogVersion != v3 {
		t.Fatalf("versions %d -> %d, record %d", v1, v3, n.table.Self().CatalogVersion)
	}

	resp, err := http.Get("http://" + n.srv.Listener.Addr().String() + PathCatalog)
	if err != nil {
		t.Fatal(err)
	}
	var l Listing
	json.NewDecoder(resp.Body).Decode(&l)
	resp.Body.Close()
	if l.Node != n.id() || l.Version != v3 || len(l.Items) != 1 || l.Items[0].Name != "Beta" {
		t.Fatalf("listing = %+v", l)
	}

	// A restart keeps the local catalog and its version.
	n.stop()
	n.start()
	if got := n.cat.Local(); len(got) != 1 || got[0].Name != "Beta" || n.cat.Version() != v3 {
		t.Fatalf("after restart: %+v, version %d", got, n.cat.Version())
	}
	if n.table.Self().CatalogVersion != v3 {
		t.Fatalf("after restart the record shows version %d", n.table.Self().CatalogVersion)
	}
}

func TestSearch(t *testing.T) {
	n := newNode(t, "s")
	for _, name := range []string{"Big Buck Bunny 1080p", "Sintel trailer", "bunny pictures", "Tears of Steel"} {
		if err := n.cat.AddLocal(item(name)); err != nil {
			t.Fatal(err)
		}
	}
	names := func(es []Entry) string {
		var out []string
		for _, e := range es {
			out = append(out, e.Item.Name)
		}
		return strings.Join(out, "|")
	}
	cases := map[string]string{
		"":            "Big Buck Bunny 1080p|bunny pictures|Sintel trailer|Tears of Steel",
		"bunny":       "Big Buck Bunny 1080p|bunny pictures",
		"BUCK  big":   "Big Buck Bunny 1080p",
		"el":          "Sintel trailer|Tears of Steel",
		"bunny steel": "",
		"nothing":     "",
	}
	// A prefix of an info hash finds its item.
	cases[item("Sintel trailer").InfoHash[:8]] = "Sintel trailer"
	for q, want := range cases {
		if got := names(n.cat.Search(q)); got != want {
			t.Errorf("Search(%q) = %q, want %q", q, got, want)
		}
	}
	e, ok := n.cat.Get(strings.ToUpper(item("Tears of Steel").InfoHash))
	if !ok || len(e.Holders) != 1 || !e.Holders[0].Self || e.Holders[0].Name != "s" {
		t.Fatalf("Get = %+v, %v", e, ok)
	}
}

func TestFiveNodesConvergeOnCatalog(t *testing.T) {
	var nodes []*node
	for i := range 5 {
		nodes = append(nodes, newNode(t, fmt.Sprintf("n%d", i)))
	}
	// A star: every node joins through n0.
	for _, n := range nodes[1:] {
		n.join(nodes[0])
	}
	for _, n := range nodes {
		n.run()
	}
	shared := item("shared")
	for i, n := range nodes {
		if err := n.cat.AddLocal(item(fmt.Sprintf("item%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	// n1 publishes "shared"; n2 fetched it and holds it too.
	if err := nodes[1].cat.AddLocal(shared); err != nil {
		t.Fatal(err)
	}
	fromN1 := nodes[1].cat.Local()
	i := slices.IndexFunc(fromN1, func(it Item) bool { return it.Name == "shared" })
	if err := nodes[2].cat.AddLocal(fromN1[i]); err != nil {
		t.Fatal(err)
	}

	id := func(i int) string { return nodes[i].id()[:6] }
	pair := []string{id(1), id(2)}
	slices.Sort(pair)
	want := fmt.Sprintf("item0:%s item1:%s item2:%s item3:%s item4:%s shared:%s",
		id(0), id(1), id(2), id(3), id(4), strings.Join(pair, ","))
	eventually(t, 15*time.Second, func() error { return sameCatalog(nodes, want) })
	for _, n := range nodes {
		if len(n.table.Members()) != 5 {
			t.Fatalf("%s has %d members", n.name, len(n.table.Members()))
		}
		e, _ := n.cat.Get(shared.InfoHash)
		if e.Item.Publisher != nodes[1].id() || e.Item.PublisherName != "n1" {
			t.Errorf("%s: shared item published by %q %q", n.name, e.Item.Publisher, e.Item.PublisherName)
		}
	}
	for _, e := range nodes[0].cat.Search("item3") {
		if len(e.Holders) != 1 || e.Holders[0].Name != "n3" || e.Holders[0].Self {
			t.Errorf("holders of item3 on n0: %+v", e.Holders)
		}
	}

	// A removal spreads.
	if err := nodes[3].cat.RemoveLocal(item("item3").InfoHash); err != nil {
		t.Fatal(err)
	}
	want = strings.Replace(want, "item3:"+id(3)+" ", "", 1)
	eventually(t, 15*time.Second, func() error { return sameCatalog(nodes, want) })

	// n2 stops: once it is removed from the table, its items are gone and
	// the shared item is held by n1 alone.
	nodes[2].stop()
	rest := []*node{nodes[0], nodes[1], nodes[3], nodes[4]}
	want = fmt.Sprintf("item0:%s item1:%s item4:%s shared:%s", id(0), id(1), id(4), id(1))
	eventually(t, 15*time.Second, func() error { return sameCatalog(rest, want) })
	for _, n := range rest {
		if _, ok := n.table.Member(nodes[2].id()); ok {
			t.Errorf("%s still lists n2", n.name)
		}
	}
}

func TestRestartKeepsTheNetworkCatalog(t *testing.T) {
	changes := make(chan string, 100)
	a := newNode(t, "a", func(n *node) { n.onChange = func(id string) { changes <- id } })
	b := newNode(t, "b")
	if err := b.cat.AddLocal(item("from-b")); err != nil {
		t.Fatal(err)
	}
	a.join(b)
	a.run()
	b.run()
	eventually(t, 10*time.Second, func() error {
		if len(a.cat.Search("from-b")) != 1 {
			return fmt.Errorf("a does not have b's item")
		}
		return nil
	})
	select {
	case id := <-changes:
		if id != b.id() {
			t.Errorf("OnChange(%s), want b's id", id)
		}
	case <-time.After(5 * time.Second):
		t.Error("OnChange not called for b's catalog")
	}
	a.stop()
	b.stop() // so a cannot fetch again: what it shows comes from its database
	a.start()
	if es := a.cat.Search("from-b"); len(es) != 1 || es[0].Holders[0].ID != b.id() {
		t.Fatalf("after restart a shows %+v", es)
	}
}

func TestBadListingsAreNotStored(t *testing.T) {
	cases := map[string]func(w http.ResponseWriter, liar, other *node){
		"another node's catalog": func(w http.ResponseWriter, _, other *node) {
			json.NewEncoder(w).Encode(Listing{Node: other.id(), Version: 1, Items: []Item{item("x")}})
		},
		"an invalid item": func(w http.ResponseWriter, liar, _ *node) {
			json.NewEncoder(w).Encode(Listing{Node: liar.id(), Version: 1, Items: []Item{{InfoHash: "zz", Name: "x"}}})
		},
		"an item twice": func(w http.ResponseWriter, liar, _ *node) {
			json.NewEncoder(w).Encode(Listing{Node: liar.id(), Version: 1, Items: []Item{item("x"), item("x")}})
		},
		"not JSON": func(w http.ResponseWriter, _, _ *node) { w.Write([]byte("<html>")) },
	}
	for name, serve := range cases {
		t.Run(name, func(t *testing.T) {
			a := newNode(t, "a")
			var liar *node
			liar = newNode(t, "liar", func(n *node) {
				n.serveCatalog = func(w http.ResponseWriter, _ *http.Request) { serve(w, liar, a) }
			})
			if err := liar.cat.AddLocal(item("real")); err != nil {
				t.Fatal(err)
			}
			a.join(liar)
			a.cat.reconcile(t.Context(), false)
			if es := a.cat.Network(); len(es) != 0 {
				t.Fatalf("stored %+v", es)
			}
		})
	}
}

// Refresh fetches a member's catalog even when the member's record, as this
// node last heard it, shows the version it already has.
func TestRefreshFetchesWhateverTheVersion(t *testing.T) {
	a, b := newNode(t, "a"), newNode(t, "b")
	if err := b.cat.AddLocal(item("old")); err != nil {
		t.Fatal(err)
	}
	a.join(b) // no gossip runs: a keeps b's record as it got it now
	a.cat.reconcile(t.Context(), false)
	if got := a.summary(); !strings.Contains(got, "old:") {
		t.Fatalf("a's catalog after the first fetch: %q", got)
	}
	if err := b.cat.AddLocal(item("new")); err != nil {
		t.Fatal(err)
	}
	a.cat.reconcile(t.Context(), false)
	if got := a.summary(); strings.Contains(got, "new:") {
		t.Fatalf("a saw b's new version without gossip (the test needs it not to): %q", got)
	}
	a.cat.Refresh(t.Context())
	if got := a.summary(); !strings.Contains(got, "new:") || !strings.Contains(got, "old:") {
		t.Fatalf("after Refresh a's catalog is %q, want old and new", got)
	}
}
