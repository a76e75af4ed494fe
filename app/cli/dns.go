package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/miekg/dns"

	"github.com/shoal-p2p/shoal/naming"
	"github.com/shoal-p2p/shoal/node"
)

// dnsCmd is the `shoal dns` group.
type dnsCmd struct {
	Query   dnsQueryCmd   `cmd:"" help:"Look a name up: a dig-like answer plus where it came from."`
	Records dnsRecordsCmd `cmd:"" help:"List the node's zone and your own records."`
	Set     dnsSetCmd     `cmd:"" help:"Add or replace one of your own records."`
	Rm      dnsRmCmd      `cmd:"" help:"Remove one of your own records."`
}

type dnsQueryCmd struct {
	Name   string `arg:"" placeholder:"NAME" help:"The name to look up."`
	Type   string `arg:"" optional:"" placeholder:"TYPE" default:"A" help:"The record type (A, AAAA, MX, SRV, TXT, ...)."`
	Server string `placeholder:"HOST:PORT" help:"Ask this DNS server directly instead of the node."`
}

// rrType checks a record type's spelling before anything is sent.
func rrType(s string) (string, uint16, error) {
	typ := strings.ToUpper(s)
	t, ok := dns.StringToType[typ]
	if !ok {
		return "", 0, usagef("unknown record type %q", s)
	}
	return typ, t, nil
}

func (q *dnsQueryCmd) Run(ctx context.Context, g *Globals) error {
	typ, t, err := rrType(q.Type)
	if err != nil {
		return err
	}
	if q.Server != "" {
		// Like dig @server: the node is not involved.
		ans, err := naming.QueryServer(ctx, q.Server, q.Name, t, 3*time.Second)
		if ans.Msg != nil {
			fmt.Fprint(g.stdout, naming.FormatAnswer(ans))
		}
		return err
	}
	c, err := g.dial()
	if err != nil {
		return err
	}
	var out struct {
		Text  string `json:"text"`
		Error string `json:"error"`
	}
	if err := c.do(ctx, http.MethodGet, "/api/v1/dns/query?name="+url.QueryEscape(q.Name)+"&type="+url.QueryEscape(typ), &out); err != nil {
		return err
	}
	fmt.Fprint(g.stdout, out.Text)
	if out.Error != "" {
		return fmt.Errorf("%s", out.Error)
	}
	return nil
}

type dnsRecordsCmd struct{}

func (dnsRecordsCmd) Run(ctx context.Context, g *Globals) error {
	c, err := g.dial()
	if err != nil {
		return err
	}
	var z struct {
		Zone    string `json:"zone"`
		Serial  uint32 `json:"serial"`
		Records []struct {
			Text string `json:"text"`
		} `json:"records"`
	}
	if err := c.do(ctx, http.MethodGet, "/api/v1/dns/zone", &z); err != nil {
		return err
	}
	if g.JSON {
		return json.NewEncoder(g.stdout).Encode(z)
	}
	fmt.Fprintf(g.stdout, "; zone %s serial %d\n", z.Zone, z.Serial)
	for _, r := range z.Records {
		fmt.Fprintln(g.stdout, r.Text)
	}
	var own []node.DNSRecord
	if err := c.do(ctx, http.MethodGet, "/api/v1/dns/records", &own); err != nil {
		return err
	}
	if len(own) > 0 {
		fmt.Fprintln(g.stdout, "; your own records")
		tw := tabwriter.NewWriter(g.stdout, 0, 0, 2, ' ', 0)
		for _, r := range own {
			fmt.Fprintf(tw, ";  %s\t%s\t%s\tttl %d\n", r.Name, r.Type, r.Value, r.TTL)
		}
		tw.Flush()
	}
	return nil
}

type dnsSetCmd struct {
	Name  string `arg:"" placeholder:"NAME" help:"The record's name, in your own subdomain."`
	Type  string `arg:"" placeholder:"TYPE" help:"The record type: A, AAAA, CNAME, MX, SRV or TXT."`
	Value string `arg:"" placeholder:"VALUE" help:"The record's value, as in a zone file."`
	TTL   uint32 `name:"ttl" placeholder:"S" help:"TTL in seconds (0 = the zone's default)."`
}

func (s *dnsSetCmd) Run(ctx context.Context, g *Globals) error {
	typ, _, err := rrType(s.Type)
	if err != nil {
		return err
	}
	c, err := g.dial()
	if err != nil {
		return err
	}
	rec := node.DNSRecord{Name: s.Name, Type: typ, Value: s.Value, TTL: s.TTL}
	if err := c.doJSON(ctx, http.MethodPost, "/api/v1/dns/records", rec, nil); err != nil {
		return err
	}
	fmt.Fprintf(g.stdout, "set %s %s %s\n", rec.Name, rec.Type, rec.Value)
	return nil
}

type dnsRmCmd struct {
	Name string `arg:"" placeholder:"NAME" help:"The record's name."`
	Type string `arg:"" placeholder:"TYPE" help:"The record type."`
}

func (r *dnsRmCmd) Run(ctx context.Context, g *Globals) error {
	typ, _, err := rrType(r.Type)
	if err != nil {
		return err
	}
	c, err := g.dial()
	if err != nil {
		return err
	}
	q := "?name=" + url.QueryEscape(r.Name) + "&type=" + url.QueryEscape(typ)
	if err := c.do(ctx, http.MethodDelete, "/api/v1/dns/records"+q, nil); err != nil {
		return err
	}
	fmt.Fprintf(g.stdout, "removed %s %s\n", r.Name, typ)
	return nil
}
