package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/alecthomas/kong"

	"github.com/shoal-p2p/shoal/cdn/catalog"
	"github.com/shoal-p2p/shoal/cdn/engine"
	"github.com/shoal-p2p/shoal/cdn/membership"
)

type publishCmd struct {
	Path  string `arg:"" placeholder:"PATH" predictor:"file" help:"The file or folder to share."`
	Name  string `placeholder:"NAME" help:"The item's name (default: the file or folder's name)."`
	Video bool   `help:"PATH is a video: package it for streaming (DASH renditions, with ffmpeg) and publish the result."`
}

// Run shares the path through the node, showing hashing progress (and with
// --video, packaging progress first), and prints the magnet on the last
// line of stdout.
func (p *publishCmd) Run(ctx context.Context, g *Globals) error {
	c, err := g.dial()
	if err != nil {
		return err
	}
	path, err := filepath.Abs(p.Path)
	if err != nil {
		return err
	}
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("cannot publish %s: %w", p.Path, unwrapPath(err))
	}
	resp, err := c.send(ctx, http.MethodPost, "/api/v1/publish", map[string]any{"path": path, "name": p.Name, "video": p.Video})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	bar := newProgress(g.stderr, "hashing")
	if p.Video {
		bar = newProgress(g.stderr, "packaging")
		bar.media = true
	}
	defer func() { bar.finish() }()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var line struct {
			Done, Total int64
			Stage       string
			Error       string
			Item        *engine.Item
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			return fmt.Errorf("bad answer from the node: %w", err)
		}
		switch {
		case line.Error != "":
			return fmt.Errorf("the node says: %s", line.Error)
		case line.Item != nil:
			bar.update(line.Item.Size, line.Item.Size)
			bar.finish()
			if g.JSON {
				return json.NewEncoder(g.stdout).Encode(line.Item)
			}
			kind := line.Item.Kind
			if engine.IsPresentation(*line.Item) {
				kind = "video"
			}
			fmt.Fprintf(g.stdout, "published %s (%s, %s)\ninfohash %s\n%s\n",
				line.Item.Name, bytesText(line.Item.Size), kind, line.Item.InfoHash, line.Item.Magnet)
			return nil
		default:
			if bar.media && line.Stage != "packaging" {
				bar.finish()
				bar = newProgress(g.stderr, "hashing")
			}
			bar.update(line.Done, line.Total)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("publishing was cut off: %w", err)
	}
	return fmt.Errorf("the node ended the answer without a result")
}

func unwrapPath(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

type getCmd struct {
	Spec   string `arg:"" placeholder:"NAME|MAGNET|INFOHASH|FILE.torrent" predictor:"file" help:"What to download: a name from the catalog, a magnet link, an infohash or a .torrent file."`
	Out    string `placeholder:"DIR" predictor:"file" help:"Folder to save the download in (default: the node's content folder)."`
	NoWait bool   `help:"Queue the download and return."`
}

// Run adds a download and, unless --no-wait, follows it with a progress
// bar until every piece is verified.
func (gc *getCmd) Run(ctx context.Context, g *Globals) error {
	c, err := g.dial()
	if err != nil {
		return err
	}
	out := gc.Out
	if out != "" {
		if out, err = filepath.Abs(out); err != nil {
			return err
		}
	}
	req := map[string]any{"spec": gc.Spec, "out_dir": out}
	if engine.IsTorrentFile(gc.Spec) {
		// A .torrent file on this machine: the node may run elsewhere, so
		// its bytes go with the request.
		mi, err := os.ReadFile(gc.Spec)
		if err != nil {
			return fmt.Errorf("cannot read %s: %w", gc.Spec, unwrapPath(err))
		}
		req = map[string]any{"torrent": mi, "out_dir": out}
	}
	var st engine.Status
	if err := c.doJSON(ctx, http.MethodPost, "/api/v1/items", req, &st); err != nil {
		return err
	}
	if gc.NoWait {
		fmt.Fprintf(g.stdout, "queued %s %s\n", st.InfoHash, st.Name)
		return nil
	}
	bar := newProgress(g.stderr, "finding peers")
	defer bar.finish()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	// The node's events wake the loop as soon as a piece lands or the item
	// completes; the ticker is the fallback if the stream is not there.
	wake, stopWatching := c.watch(ctx, engine.EventProgress, engine.EventComplete)
	defer stopWatching()
	for {
		switch {
		case st.State == engine.StateSeeding:
			bar.update(st.Size, st.Size)
			bar.finish()
			fmt.Fprintf(g.stdout, "complete %s %s\n%s\n", st.InfoHash, st.Name, filepath.Join(st.Dir, st.Name))
			return nil
		case st.State == engine.StatePaused:
			return fmt.Errorf("the download of %s was paused", st.Name)
		case st.Error != "":
			return fmt.Errorf("download of %s: %s", st.InfoHash, st.Error)
		case st.State == engine.StateQueued:
			bar.describe("finding peers")
		default:
			bar.describe(fmt.Sprintf("downloading (%d %s)", st.Peers, plural(st.Peers, "peer", "peers")))
		}
		bar.update(st.Completed, st.Size)
		select {
		case <-ctx.Done():
			return fmt.Errorf("stopped waiting; the download goes on in the node (see 'shoal ls')")
		case <-tick.C:
		case <-wake:
		}
		if err := c.do(ctx, http.MethodGet, "/api/v1/items/"+st.InfoHash, &st); err != nil {
			return err
		}
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

type lsCmd struct {
	Query   string `arg:"" optional:"" placeholder:"QUERY" help:"Show only items whose name contains QUERY (or whose infohash starts with it)."`
	Network bool   `help:"List the whole network's catalog, not this node's items."`
}

// Run lists this node's items with their state, or the network's catalog.
func (l *lsCmd) Run(ctx context.Context, g *Globals) error {
	c, err := g.dial()
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(g.stdout, 0, 0, 2, ' ', 0)
	defer tw.Flush()
	if l.Network {
		var entries []catalog.Entry
		if err := c.do(ctx, http.MethodGet, "/api/v1/catalog?q="+url.QueryEscape(l.Query), &entries); err != nil {
			return err
		}
		if g.JSON {
			return json.NewEncoder(g.stdout).Encode(entries)
		}
		fmt.Fprintln(tw, "NAME\tSIZE\tKIND\tHELD BY\tINFOHASH")
		for _, e := range entries {
			var holders []string
			for _, h := range e.Holders {
				holders = append(holders, h.Name)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.Item.Name, bytesText(e.Item.Size), e.Item.Kind, strings.Join(holders, ","), e.Item.InfoHash)
		}
		return nil
	}
	var items []engine.Status
	if err := c.do(ctx, http.MethodGet, "/api/v1/items", &items); err != nil {
		return err
	}
	if g.JSON {
		return json.NewEncoder(g.stdout).Encode(items)
	}
	q := strings.ToLower(l.Query)
	fmt.Fprintln(tw, "NAME\tSIZE\tSTATE\tDONE\tPEERS\tORIGIN\tINFOHASH")
	for _, st := range items {
		if q != "" && !strings.Contains(strings.ToLower(st.Name), q) && !strings.HasPrefix(st.InfoHash, q) {
			continue
		}
		done := "-"
		if st.Size > 0 {
			done = fmt.Sprintf("%.0f%%", 100*float64(st.Completed)/float64(st.Size))
		}
		state := string(st.State)
		if st.Pinned {
			state += ",pinned"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", st.Name, bytesText(st.Size), state, done, st.Peers, st.Origin, st.InfoHash)
	}
	return nil
}

type peersCmd struct{}

func (peersCmd) Run(ctx context.Context, g *Globals) error {
	c, err := g.dial()
	if err != nil {
		return err
	}
	var members []membership.Member
	if err := c.do(ctx, http.MethodGet, "/api/v1/members", &members); err != nil {
		return err
	}
	if g.JSON {
		return json.NewEncoder(g.stdout).Encode(members)
	}
	tw := tabwriter.NewWriter(g.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tID\tADDRESSES\tSTATE\tLAST SEEN\tRTT")
	for _, m := range members {
		name := m.DisplayName
		if m.Self {
			name += " (this node)"
		}
		seen, rtt := "-", "-"
		if !m.LastSeen.IsZero() {
			seen = time.Since(m.LastSeen).Round(time.Second).String() + " ago"
		}
		if m.RTT > 0 {
			rtt = m.RTT.Round(10 * time.Microsecond).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", name, m.ID(), strings.Join(m.Record.PeerAddrs(), ","), m.State, seen, rtt)
	}
	return tw.Flush()
}

// itemCmd is pause, resume, pin and unpin: the command's name is the action.
type itemCmd struct {
	InfoHash string `arg:"" name:"infohash" placeholder:"INFOHASH" help:"The item's infohash."`
}

func (i *itemCmd) Run(ctx context.Context, kctx *kong.Context, g *Globals) error {
	action := kctx.Selected().Name
	c, err := g.dial()
	if err != nil {
		return err
	}
	var st engine.Status
	if err := c.do(ctx, http.MethodPost, "/api/v1/items/"+url.PathEscape(i.InfoHash)+"/"+action, &st); err != nil {
		return err
	}
	fmt.Fprintf(g.stdout, "%s: %s %s\n", action, st.Name, st.State)
	return nil
}

type rmCmd struct {
	InfoHash   string `arg:"" name:"infohash" placeholder:"INFOHASH" help:"The item's infohash."`
	DeleteData bool   `help:"Delete the downloaded files too."`
}

func (r *rmCmd) Run(ctx context.Context, g *Globals) error {
	c, err := g.dial()
	if err != nil {
		return err
	}
	path := "/api/v1/items/" + url.PathEscape(r.InfoHash)
	if r.DeleteData {
		path += "?data=1"
	}
	if err := c.do(ctx, http.MethodDelete, path, nil); err != nil {
		return err
	}
	fmt.Fprintf(g.stdout, "removed %s\n", r.InfoHash)
	return nil
}
