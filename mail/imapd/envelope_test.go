package imapd

import (
	"fmt"
	"testing"

	"github.com/emersion/go-imap/v2"
)

// The envelopes a FETCH answers from the cache are the ones it parsed the
// first time, message by message, also when two messages share a body and
// when the cache is smaller than the mailbox.
func TestFetchEnvelopesCachedAgree(t *testing.T) {
	f := start(t, Options{InsecureAuth: true})
	c := login(t, f, nil)
	const n = fetchBatch + 10 // more than one batch
	for i := range n {
		appendMsg(t, c, "INBOX", message(fmt.Sprintf("subject %d", i), "text"))
	}
	same := message("twice", "one body")
	appendMsg(t, c, "INBOX", same)
	appendMsg(t, c, "INBOX", same)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	fetch := func() []string {
		t.Helper()
		var all imap.SeqSet
		all.AddRange(1, 0)
		got, err := c.Fetch(all, &imap.FetchOptions{Envelope: true, Flags: true}).Collect()
		if err != nil {
			t.Fatalf("fetch: %v", err)
		}
		subjects := make([]string, len(got))
		for i, m := range got {
			if m.Envelope == nil || len(m.Envelope.From) != 1 || m.Envelope.From[0].Host != "two.shoal" {
				t.Fatalf("message %d: envelope %+v", i+1, m.Envelope)
			}
			subjects[i] = m.Envelope.Subject
		}
		return subjects
	}
	cold := fetch()
	if len(cold) != n+2 || cold[0] != "subject 0" || cold[n-1] != fmt.Sprintf("subject %d", n-1) || cold[n] != "twice" || cold[n+1] != "twice" {
		t.Fatalf("first fetch: %d envelopes %q…", len(cold), cold[:3])
	}
	warm := fetch()
	for i := range cold {
		if warm[i] != cold[i] {
			t.Fatalf("message %d: %q from the cache, %q parsed", i+1, warm[i], cold[i])
		}
	}
}

func TestEnvelopeCacheEvictsOldest(t *testing.T) {
	c := newEnvelopeCache(2)
	c.put("a", &imap.Envelope{Subject: "a"})
	c.put("b", &imap.Envelope{Subject: "b"})
	c.put("a", &imap.Envelope{Subject: "again"}) // present: kept as it was
	c.put("c", &imap.Envelope{Subject: "c"})
	if _, ok := c.get("a"); ok {
		t.Error("a kept past the limit")
	}
	for _, id := range []string{"b", "c"} {
		if e, ok := c.get(id); !ok || e.Subject != id {
			t.Errorf("%s: %v %v", id, e, ok)
		}
	}
	if _, ok := c.get(""); ok {
		t.Error("an empty ID found")
	}
}
