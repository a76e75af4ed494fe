package node

import (
	"context"
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/shoal-p2p/shoal/naming"
)

// ask queries a node's DNS server over UDP like any client would.
func ask(t *testing.T, n *Node, name string, qtype uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	in, err := dns.Exchange(m, n.DNS().Addr().String())
	if err != nil {
		t.Fatalf("query %s: %v", name, err)
	}
	return in
}

func answers(m *dns.Msg) string {
	var parts []string
	for _, rr := range m.Answer {
		parts = append(parts, rr.String())
	}
	return strings.Join(parts, "\n")
}

// TestThreeNodesResolveEachOther: every node answers for every member's
// name, SRV and TXT; a user record spreads; a content name lists the
// holder; a member that leaves stops resolving once removed.
func TestThreeNodesResolveEachOther(t *testing.T) {
	a := startMember(t, "ann", "127.0.0.2")
	b := startMember(t, "ben", "127.0.0.3", a.CDN().PeerAddr())
	c := startMember(t, "cal", "127.0.0.4", a.CDN().PeerAddr())
	nodes := []*Node{a, b, c}
	waitFor(t, "three members everywhere", func() bool {
		return aliveMembers(a) == 3 && aliveMembers(b) == 3 && aliveMembers(c) == 3
	})

	for _, asker := range nodes {
		for _, target := range nodes {
			name := target.Config().Name + ".shoal."
			waitFor(t, asker.Config().Name+" to answer "+name, func() bool {
				return strings.Contains(answers(ask(t, asker, name, dns.TypeA)), target.Config().Bind)
			})
			m := ask(t, asker, "_shoal-peer._tcp."+name, dns.TypeSRV)
			if !m.Authoritative || !strings.Contains(answers(m), portOf(target.CDN().PeerAddr())) {
				t.Errorf("%s: SRV of %s = %s", asker.Config().Name, name, answers(m))
			}
			if txt := answers(ask(t, asker, name, dns.TypeTXT)); !strings.Contains(txt, target.Identity().ID()) {
				t.Errorf("%s: TXT of %s = %s", asker.Config().Name, name, txt)
			}
		}
	}
	if m := ask(t, b, "nobody.shoal.", dns.TypeA); m.Rcode != dns.RcodeNameError || len(m.Ns) == 0 {
		t.Errorf("nobody.shoal.: rcode %s, authority %v", dns.RcodeToString[m.Rcode], m.Ns)
	}

	// A user record under ann's name reaches ben; one under ben's name is refused.
	if err := a.SetDNSRecord(DNSRecord{Name: "www", Type: "A", Value: "192.0.2.7", TTL: 30}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "ben to answer www.ann.shoal.", func() bool {
		return strings.Contains(answers(ask(t, b, "www.ann.shoal.", dns.TypeA)), "192.0.2.7")
	})
	if err := a.SetDNSRecord(DNSRecord{Name: "www.ben.shoal.", Type: "A", Value: "192.0.2.8"}); err == nil {
		t.Error("a record in another node's subdomain was accepted")
	}

	// Content names: the members holding the item.
	src := filepath.Join(t.TempDir(), "song.ogg")
	data := make([]byte, 64<<10)
	rand.Read(data)
	os.WriteFile(src, data, 0o600)
	it, err := c.Publish(context.Background(), src, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a content name for the item", func() bool {
		return strings.Contains(answers(ask(t, a, it.InfoHash+".cdn.shoal.", dns.TypeA)), "127.0.0.4")
	})

	// The node's own resolver, with the path of the answer.
	ans, err := b.DNSQuery(context.Background(), "cal.shoal", "A")
	if err != nil || ans.Source != naming.StepZone {
		t.Errorf("DNSQuery: %v, source %q", err, ans.Source)
	}

	// cal leaves: once removed, its name stops resolving.
	c.Close()
	waitFor(t, "cal.shoal. to disappear", func() bool {
		return ask(t, a, "cal.shoal.", dns.TypeA).Rcode == dns.RcodeNameError &&
			ask(t, b, "cal.shoal.", dns.TypeA).Rcode == dns.RcodeNameError
	})
}

// TestDigAgainstANode runs Debian's dig against a running node.
func TestDigAgainstANode(t *testing.T) {
	dig, err := exec.LookPath("dig")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("dig is not installed (Debian package dnsutils)")
		}
		t.Skip("dig is not installed")
	}
	n := startMember(t, "dug", "127.0.0.5")
	out, err := exec.Command(dig, "@127.0.0.5", "-p", portOf(n.DNS().Addr().String()), "+norecurse", "dug.shoal", "A").CombinedOutput()
	if err != nil {
		t.Fatalf("dig: %v\n%s", err, out)
	}
	s := string(out)
	if !strings.Contains(s, "status: NOERROR") || !strings.Contains(s, " aa") || !strings.Contains(s, "127.0.0.5") {
		t.Errorf("dig output lacks an authoritative answer with 127.0.0.5:\n%s", s)
	}
	out, _ = exec.Command(dig, "@127.0.0.5", "-p", portOf(n.DNS().Addr().String()), "+tcp", "shoal", "SOA").CombinedOutput()
	if !strings.Contains(string(out), "SOA") || !strings.Contains(string(out), "status: NOERROR") {
		t.Errorf("dig +tcp SOA:\n%s", out)
	}
}
