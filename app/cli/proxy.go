package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"text/tabwriter"

	"github.com/shoal-p2p/shoal/node"
)

// proxyCmd is the `shoal proxy` group.
type proxyCmd struct {
	Stats proxyStatsCmd `cmd:"" help:"The caching proxy's address, hit ratios, bytes saved and contents."`
	Purge proxyPurgeCmd `cmd:"" help:"Drop one URL, or everything, from the proxy's cache."`
}

type proxyStatsCmd struct{}

func (proxyStatsCmd) Run(ctx context.Context, g *Globals) error {
	c, err := g.dial()
	if err != nil {
		return err
	}
	var st node.ProxyStats
	if err := c.do(ctx, http.MethodGet, "/api/v1/proxy/stats", &st); err != nil {
		return err
	}
	if g.JSON {
		return json.NewEncoder(g.stdout).Encode(st)
	}
	tw := tabwriter.NewWriter(g.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "proxy\t%s\t(PAC file %s)\n", st.Address, st.PAC)
	fmt.Fprintf(tw, "requests\t%d\t%d hits, %d revalidated, %d misses, %d not cacheable\n", st.Requests, st.Hits, st.Revalidated, st.Misses, st.Bypassed)
	fmt.Fprintf(tw, "hit ratio\t%.1f%%\tby requests\n", 100*st.HitRatio)
	fmt.Fprintf(tw, "byte hit ratio\t%.1f%%\t%s saved of %s served\n", 100*st.ByteHitRatio, bytesText(st.BytesSaved), bytesText(st.BytesServed))
	fmt.Fprintf(tw, "cache\t%d entries\t%s of %s\n", st.Entries, bytesText(st.Size), bytesText(st.MaxBytes))
	fmt.Fprintf(tw, "tunnels\t%d\t%d requests refused\n", st.Tunnels, st.Denied)
	return tw.Flush()
}

type proxyPurgeCmd struct {
	URL string `arg:"" optional:"" placeholder:"URL" help:"The absolute URL to drop (every variant of it)."`
	All bool   `help:"Drop everything."`
}

func (p *proxyPurgeCmd) Run(ctx context.Context, g *Globals) error {
	if (p.URL == "") == !p.All {
		return usagef("give a URL or --all, not both")
	}
	c, err := g.dial()
	if err != nil {
		return err
	}
	var res node.PurgeResult
	if err := c.doJSON(ctx, http.MethodPost, "/api/v1/proxy/purge", node.PurgeRequest{URL: p.URL, All: p.All}, &res); err != nil {
		return err
	}
	if g.JSON {
		return json.NewEncoder(g.stdout).Encode(res)
	}
	fmt.Fprintf(g.stdout, "purged %d stored responses\n", res.Purged)
	return nil
}
