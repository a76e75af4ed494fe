package catalog

import (
	"cmp"
	"slices"
	"strings"

	"github.com/shoal-p2p/shoal/cdn/membership"
)

// Entry is an item of the network catalog with the members that hold it.
type Entry struct {
	Item    Item     `json:"item"`
	Holders []Holder `json:"holders"`
}

// Holder is a member that lists an item in its catalog.
type Holder struct {
	ID    string           `json:"id"`
	Name  string           `json:"name"` // display name
	State membership.State `json:"state"`
	Self  bool             `json:"self,omitempty"`
}

// Network lists every item of the local and the members' catalogs, one
// entry per info hash, by name.
func (c *Catalog) Network() []Entry { return c.Search("") }

// Get is the entry of one info hash (hex, either case).
func (c *Catalog) Get(infoHash string) (Entry, bool) {
	ih, err := ParseInfoHash(infoHash)
	if err != nil {
		return Entry{}, false
	}
	for _, e := range c.entries(func(it *Item) bool { return it.InfoHash == ih }) {
		return e, true
	}
	return Entry{}, false
}

// Search finds items by name over the local and the network catalog. The
// query is split into words; an item matches if every word is in its name,
// ignoring case, or is a prefix of its info hash. The empty query matches
// everything.
func (c *Catalog) Search(query string) []Entry {
	words := strings.Fields(strings.ToLower(query))
	return c.entries(func(it *Item) bool {
		name := strings.ToLower(it.Name)
		for _, w := range words {
			if !strings.Contains(name, w) && !strings.HasPrefix(it.InfoHash, w) {
				return false
			}
		}
		return true
	})
}

// entries merges the catalogs into entries whose item matches.
func (c *Catalog) entries(match func(*Item) bool) []Entry {
	members := make(map[string]membership.Member)
	for _, m := range c.members.Members() {
		members[m.Record.ID] = m
	}
	selfID := c.members.ID()
	// rank orders the copies of an item that could describe its entry:
	// the local copy, then the publisher's, then any; ties go to the
	// smaller node id, so members show the same.
	rank := func(node string, it *Item) int {
		switch {
		case node == selfID:
			return 0
		case node == it.Publisher:
			return 1
		}
		return 2
	}
	type acc struct {
		Entry
		src string // the node whose copy describes the entry
	}
	byHash := make(map[string]*acc)
	add := func(node string, it *Item) {
		if !match(it) {
			return
		}
		e, ok := byHash[it.InfoHash]
		if !ok {
			e = &acc{Entry: Entry{Item: it.clone()}, src: node}
			byHash[it.InfoHash] = e
		} else if r, cur := rank(node, it), rank(e.src, &e.Item); r < cur || (r == cur && node < e.src) {
			e.Item, e.src = it.clone(), node
		}
		h := Holder{ID: node, Self: node == selfID}
		if m, ok := members[node]; ok {
			h.Name, h.State = m.DisplayName, m.State
		}
		e.Holders = append(e.Holders, h)
	}
	c.mu.Lock()
	for ih := range c.local {
		it := c.local[ih]
		add(selfID, &it)
	}
	for node, r := range c.remote {
		for i := range r.Items {
			add(node, &r.Items[i])
		}
	}
	c.mu.Unlock()

	out := make([]Entry, 0, len(byHash))
	for _, e := range byHash {
		slices.SortFunc(e.Holders, func(a, b Holder) int {
			// This node first, then by name.
			if a.Self != b.Self {
				if a.Self {
					return -1
				}
				return 1
			}
			return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.ID, b.ID))
		})
		out = append(out, e.Entry)
	}
	slices.SortFunc(out, func(a, b Entry) int { return compareItems(a.Item, b.Item) })
	return out
}

func compareItems(a, b Item) int {
	return cmp.Or(cmp.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)), cmp.Compare(a.InfoHash, b.InfoHash))
}
