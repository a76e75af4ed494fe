package node

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/shoal-p2p/shoal/cdn/membership"
	"github.com/shoal-p2p/shoal/cdn/web/sites"
)

// siteValue prefixes the TXT record that names a site's item:
// LABEL TXT "shoal-site=INFOHASH" in the publisher's zone.
const siteValue = "shoal-site="

// Site is a published folder served as LABEL.NAME.shoal.
type Site struct {
	Label    string `json:"label"`
	Host     string `json:"host"`
	InfoHash string `json:"infohash"`
	URL      string `json:"url"`
}

// errBadSite is a site request that cannot be done as asked.
var errBadSite = errors.New("node: bad site")

// startSites has the peer port serve every member's sites by Host.
func (n *Node) startSites() {
	n.cdn.SetSites(n.cfg.DNS.Zone, &sites.Handler{Sites: siteDirectory{n}, Content: n.cdn.Engine.Gateway()})
}

// siteDirectory finds sites in the members' zone records and their files in
// the catalog.
type siteDirectory struct{ n *Node }

func (d siteDirectory) Site(host string) (string, bool) {
	rest, ok := strings.CutSuffix(host, "."+d.n.cfg.DNS.Zone)
	if !ok {
		return "", false
	}
	i := strings.LastIndexByte(rest, '.')
	if i < 0 {
		return "", false
	}
	label, name := rest[:i], rest[i+1:]
	for _, m := range d.n.cdn.Members.Members() {
		if m.State == membership.Down || !strings.EqualFold(m.DisplayName, name) {
			continue
		}
		own := strings.ToLower(m.DisplayName + "." + d.n.cfg.DNS.Zone)
		for _, z := range m.Record.Zone {
			if z.Type == "TXT" && relativeName(z.Name, own) == label && strings.HasPrefix(z.Value, siteValue) {
				return strings.TrimPrefix(z.Value, siteValue), true
			}
		}
	}
	return "", false
}

func (d siteDirectory) Files(ih string) ([]string, error) {
	e, ok := d.n.cdn.Catalog.Get(ih)
	if !ok {
		return nil, fmt.Errorf("the item %s is not in the catalog", ih)
	}
	out := make([]string, 0, len(e.Item.Files))
	for _, f := range e.Item.Files {
		out = append(out, f.Path)
	}
	return out, nil
}

// PublishSite publishes the folder dir and names it as the site
// LABEL.NAME.shoal (label "www" when empty); publishing again moves the
// name to the new item.
func (n *Node) PublishSite(ctx context.Context, dir, label string) (Site, error) {
	if label == "" {
		label = "www"
	}
	label = strings.ToLower(label)
	if !labelRE.MatchString(label) {
		return Site{}, fmt.Errorf("%w: the name %q must be a DNS label (letters, digits, inner hyphens)", errBadSite, label)
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return Site{}, fmt.Errorf("%w: %s is not a folder", errBadSite, dir)
	}
	it, err := n.Publish(ctx, dir, "", nil)
	if err != nil {
		return Site{}, err
	}
	if err := n.RemoveDNSRecord(label, "TXT"); err != nil && !errors.Is(err, errNoRoute) {
		return Site{}, err
	}
	if err := n.SetDNSRecord(DNSRecord{Name: label, Type: "TXT", Value: siteValue + it.InfoHash}); err != nil {
		return Site{}, err
	}
	if err := n.SetDNSRecord(DNSRecord{Name: label, Type: "A", Value: n.cdn.Addr().String()}); err != nil {
		return Site{}, err
	}
	return n.site(label, it.InfoHash), nil
}

func (n *Node) site(label, ih string) Site {
	host := label + "." + strings.ToLower(n.zoneName()) + "." + n.cfg.DNS.Zone
	return Site{Label: label, Host: host, InfoHash: ih, URL: "http://" + host + "/"}
}

// Sites are the node's own sites.
func (n *Node) Sites() []Site {
	out := []Site{}
	own := strings.ToLower(n.zoneName() + "." + n.cfg.DNS.Zone)
	for _, z := range n.DNSRecords() {
		if z.Type == "TXT" && strings.HasPrefix(z.Value, siteValue) {
			out = append(out, n.site(relativeName(z.Name, own), strings.TrimPrefix(z.Value, siteValue)))
		}
	}
	return out
}

// RemoveSite takes the name off a site; the item stays published.
func (n *Node) RemoveSite(label string) error {
	for _, s := range n.Sites() {
		if s.Label == strings.ToLower(label) {
			if err := n.RemoveDNSRecord(s.Label, "TXT"); err != nil {
				return err
			}
			if err := n.RemoveDNSRecord(s.Label, "A"); err != nil && !errors.Is(err, errNoRoute) {
				return err
			}
			return nil
		}
	}
	return fmt.Errorf("%w: no site called %q", errNoRoute, label)
}

// siteRoutes are the control API's routes for sites.
func (a *controlAPI) siteRoutes(api func(string, http.HandlerFunc)) {
	api("GET /api/v1/sites", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, a.n.Sites()) })
	api("POST /api/v1/sites", a.postSite)
	api("DELETE /api/v1/sites/{label}", func(w http.ResponseWriter, r *http.Request) {
		if err := a.n.RemoveSite(r.PathValue("label")); err != nil {
			writeError(w, statusFor(err), err)
			return
		}
		writeJSON(w, http.StatusOK, a.n.Sites())
	})
}

// SiteRequest publishes a folder as a site.
type SiteRequest struct {
	Path string `json:"path"`
	Name string `json:"name,omitempty"`
}

func (a *controlAPI) postSite(w http.ResponseWriter, r *http.Request) {
	var req SiteRequest
	if err := decodeJSON(w, r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	s, err := a.n.PublishSite(r.Context(), req.Path, req.Name)
	if err != nil {
		code := statusFor(err)
		if errors.Is(err, errBadSite) {
			code = http.StatusBadRequest
		}
		writeError(w, code, err)
		return
	}
	writeJSON(w, http.StatusOK, s)
}
