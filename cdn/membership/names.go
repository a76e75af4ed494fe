package membership

import (
	"cmp"
	"slices"
	"time"
)

// nameClaim is one member's claim of a name.
type nameClaim struct {
	id    string
	name  string
	since time.Time
}

// displayNames resolves name conflicts deterministically, so that every
// node with the same members shows the same names: of the members claiming
// one name, the one with the earliest claim time keeps it (ties go to the
// smaller id); each other one is shown as NAME-<first 6 chars of its id>,
// with more of the id if that too is taken, and NAME cut short so the
// result is still a DNS label of at most 63 characters.
func displayNames(claims []nameClaim) map[string]string {
	slices.SortFunc(claims, func(a, b nameClaim) int {
		return cmp.Or(cmp.Compare(a.name, b.name), a.since.Compare(b.since), cmp.Compare(a.id, b.id))
	})
	out := make(map[string]string, len(claims))
	used := make(map[string]bool, len(claims))
	var losers []nameClaim
	for i, c := range claims {
		if i > 0 && claims[i-1].name == c.name {
			losers = append(losers, c)
			continue
		}
		out[c.id] = c.name
		used[c.name] = true
	}
	for _, c := range losers {
		for n := 6; n <= len(c.id); n++ {
			base := c.name
			if len(base) > 62-n {
				base = base[:62-n]
			}
			cand := base + "-" + c.id[:n]
			if !used[cand] {
				out[c.id], used[cand] = cand, true
				break
			}
		}
	}
	return out
}

// recomputeNames refreshes t.names and returns the ids whose display name
// changed. Called with t.mu held.
func (t *Table) recomputeNames() []string {
	claims := []nameClaim{{id: t.self.ID, name: t.self.Name, since: claimTime(t.self)}}
	for id, e := range t.members {
		claims = append(claims, nameClaim{id: id, name: e.Record.Name, since: e.NameSince})
	}
	names := displayNames(claims)
	var changed []string
	for id, n := range names {
		if old, ok := t.names[id]; ok && old != n {
			changed = append(changed, id)
			if n != t.claimedName(id) {
				t.log.Info("membership: name claim refused: claimed earlier by another member",
					"id", id, "name", t.claimedName(id), "shown_as", n)
			}
		} else if !ok && n != t.claimedName(id) {
			t.log.Info("membership: name claim refused: claimed earlier by another member",
				"id", id, "name", t.claimedName(id), "shown_as", n)
		}
	}
	t.names = names
	return changed
}

func (t *Table) claimedName(id string) string {
	if id == t.self.ID {
		return t.self.Name
	}
	if e, ok := t.members[id]; ok {
		return e.Record.Name
	}
	return ""
}
