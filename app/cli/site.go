package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"text/tabwriter"

	"github.com/shoal-p2p/shoal/node"
)

// siteCmd is the `shoal site` group.
type siteCmd struct {
	Publish sitePublishCmd `cmd:"" help:"Publish a folder as the site LABEL.NODE.shoal (publishing again moves the name to the new version)."`
	Ls      siteLsCmd      `cmd:"" help:"List this node's sites."`
	Rm      siteRmCmd      `cmd:"" help:"Take the name off a site (the item stays published)."`
}

type sitePublishCmd struct {
	Dir  string `arg:"" placeholder:"DIR" predictor:"file" help:"The folder to publish; index.html is its home page, 404.html its error page."`
	Name string `placeholder:"LABEL" help:"The site's label (default www)."`
}

func (s *sitePublishCmd) Run(ctx context.Context, g *Globals) error {
	dir, err := filepath.Abs(s.Dir)
	if err != nil {
		return err
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return usagef("%s is not a folder", s.Dir)
	}
	c, err := g.dial()
	if err != nil {
		return err
	}
	var site node.Site
	if err := c.doJSON(ctx, http.MethodPost, "/api/v1/sites", node.SiteRequest{Path: dir, Name: s.Name}, &site); err != nil {
		return err
	}
	if g.JSON {
		return json.NewEncoder(g.stdout).Encode(site)
	}
	fmt.Fprintf(g.stdout, "published %s as %s (item %s)\n", s.Dir, site.URL, site.InfoHash)
	return nil
}

type siteLsCmd struct{}

func (siteLsCmd) Run(ctx context.Context, g *Globals) error {
	c, err := g.dial()
	if err != nil {
		return err
	}
	var sites []node.Site
	if err := c.do(ctx, http.MethodGet, "/api/v1/sites", &sites); err != nil {
		return err
	}
	if g.JSON {
		return json.NewEncoder(g.stdout).Encode(sites)
	}
	tw := tabwriter.NewWriter(g.stdout, 0, 0, 2, ' ', 0)
	for _, s := range sites {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", s.Label, s.URL, s.InfoHash)
	}
	return tw.Flush()
}

type siteRmCmd struct {
	Label string `arg:"" placeholder:"LABEL" help:"The site's label."`
}

func (s *siteRmCmd) Run(ctx context.Context, g *Globals) error {
	c, err := g.dial()
	if err != nil {
		return err
	}
	var sites []node.Site
	return c.do(ctx, http.MethodDelete, "/api/v1/sites/"+url.PathEscape(s.Label), &sites)
}
