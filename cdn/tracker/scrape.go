package tracker

import (
	"net/http"
	"net/url"
)

// maxScrape bounds the torrents of one scrape answer.
const maxScrape = 1000

// serveScrape answers BEP 48 scrapes: for each info_hash asked (all
// torrents, up to a bound, when none is), the seeders, leechers and completed
// downloads. Torrents the tracker does not know are left out.
func (t *Tracker) serveScrape(w http.ResponseWriter, r *http.Request) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		t.fail(w, r, err)
		return
	}
	asked := q["info_hash"]
	if len(asked) > maxScrape {
		asked = asked[:maxScrape]
	}
	for _, ih := range asked {
		if len(ih) != 20 {
			t.fail(w, r, errBadScrapeHash)
			return
		}
	}
	files := map[string]any{}
	t.mu.Lock()
	now := t.cfg.Now()
	t.sweepEvery(now)
	add := func(ih [20]byte, sw *swarm) {
		t.expireSwarm(ih, sw, now)
		if _, ok := t.swarms[ih]; !ok {
			return
		}
		i := sw.info()
		files[string(ih[:])] = map[string]int{"complete": i.Complete, "incomplete": i.Incomplete, "downloaded": i.Downloaded}
	}
	if len(asked) == 0 {
		for ih, sw := range t.swarms {
			if len(files) == maxScrape {
				break
			}
			add(ih, sw)
		}
	}
	for _, s := range asked {
		ih := [20]byte([]byte(s))
		if sw, ok := t.swarms[ih]; ok {
			add(ih, sw)
		}
	}
	t.mu.Unlock()
	writeBencode(w, map[string]any{"files": files})
}
