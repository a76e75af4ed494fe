package main

import (
	"context"
	"encoding/json"
	"flag"
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

func dnsFlags(fs *flag.FlagSet, g *globals) {
	fs.StringVar(&g.server, "server", "", "ask this DNS server (HOST:PORT) directly instead of the node")
	fs.UintVar(&g.ttl, "ttl", 0, "TTL in seconds of a record you set (0 = the zone's default)")
}

// runDNS runs 'shoal dns query|records|set|rm'.
func runDNS(ctx context.Context, g *globals, args []string) error {
	if len(args) == 0 {
		return usagef("'shoal dns' needs query, records, set or rm")
	}
	want := map[string][2]int{"query": {1, 2}, "records": {0, 0}, "set": {3, 3}, "rm": {2, 2}}
	n, ok := want[args[0]]
	if !ok {
		return usagef("'shoal dns %s' is not a dns command: query, records, set or rm", args[0])
	}
	if rest := len(args) - 1; rest < n[0] || rest > n[1] {
		return usagef("'shoal dns %s' takes %s", args[0], map[string]string{
			"query": "NAME [TYPE]", "records": "no arguments", "set": "NAME TYPE VALUE", "rm": "NAME TYPE"}[args[0]])
	}
	if args[0] == "query" && g.server != "" {
		return dnsQueryServer(ctx, g, args[1:])
	}
	c, err := g.dial()
	if err != nil {
		return err
	}
	switch args[0] {
	case "query":
		typ := "A"
		if len(args) == 3 {
			typ = strings.ToUpper(args[2])
		}
		var out struct {
			Text  string `json:"text"`
			Error string `json:"error"`
		}
		if err := c.do(ctx, http.MethodGet, "/api/v1/dns/query?name="+url.QueryEscape(args[1])+"&type="+url.QueryEscape(typ), &out); err != nil {
			return err
		}
		fmt.Fprint(g.stdout, out.Text)
		if out.Error != "" {
			return fmt.Errorf("%s", out.Error)
		}
		return nil
	case "records":
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
		if g.jsonOut {
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
	case "set":
		rec := node.DNSRecord{Name: args[1], Type: strings.ToUpper(args[2]), Value: args[3], TTL: uint32(g.ttl)}
		if err := c.doJSON(ctx, http.MethodPost, "/api/v1/dns/records", rec, nil); err != nil {
			return err
		}
		fmt.Fprintf(g.stdout, "set %s %s %s\n", rec.Name, rec.Type, rec.Value)
		return nil
	default: // rm
		q := "?name=" + url.QueryEscape(args[1]) + "&type=" + url.QueryEscape(strings.ToUpper(args[2]))
		if err := c.do(ctx, http.MethodDelete, "/api/v1/dns/records"+q, nil); err != nil {
			return err
		}
		fmt.Fprintf(g.stdout, "removed %s %s\n", args[1], strings.ToUpper(args[2]))
		return nil
	}
}

// dnsQueryServer asks a given server directly, like dig @server.
func dnsQueryServer(ctx context.Context, g *globals, args []string) error {
	typ := "A"
	if len(args) == 2 {
		typ = strings.ToUpper(args[1])
	}
	t, ok := dns.StringToType[typ]
	if !ok {
		return usagef("unknown record type %q", typ)
	}
	ans, err := naming.QueryServer(ctx, g.server, args[0], t, 3*time.Second)
	if ans.Msg != nil {
		fmt.Fprint(g.stdout, naming.FormatAnswer(ans))
	}
	return err
}
