package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/shoal-p2p/shoal/cdn/catalog"
	"github.com/shoal-p2p/shoal/cdn/engine"
	"github.com/shoal-p2p/shoal/cdn/membership"
)

func getFlags(fs *flag.FlagSet, g *globals) {
	fs.StringVar(&g.out, "out", "", "folder to save the download in (default: the node's content folder)")
	fs.BoolVar(&g.noWait, "no-wait", false, "queue the download and return")
}

func lsFlags(fs *flag.FlagSet, g *globals) {
	fs.BoolVar(&g.wholeNetwork, "network", false, "list the whole network's catalog")
}

func rmFlags(fs *flag.FlagSet, g *globals) {
	fs.BoolVar(&g.deleteData, "delete-data", false, "delete the downloaded files too")
}

// progressBar draws one line of progress on w: a bar when w is a terminal,
// otherwise a plain line at most every few seconds.
type progressBar struct {
	w     io.Writer
	tty   bool
	last  time.Time
	drawn bool
}

func newProgressBar(w io.Writer) *progressBar {
	tty := false
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	return &progressBar{w: w, tty: tty}
}

func (p *progressBar) draw(label string, done, total int64, extra string) {
	now := time.Now()
	if !p.tty && now.Sub(p.last) < 2*time.Second && done != total {
		return
	}
	p.last = now
	pct := 0.0
	if total > 0 {
		pct = float64(done) / float64(total)
	}
	const width = 30
	fill := int(pct * width)
	bar := strings.Repeat("#", fill) + strings.Repeat("-", width-fill)
	line := fmt.Sprintf("%s [%s] %5.1f%% %s/%s %s", label, bar, pct*100, bytesText(done), bytesText(total), extra)
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s", line)
	} else {
		fmt.Fprintln(p.w, line)
	}
	p.drawn = true
}

func (p *progressBar) finish() {
	if p.tty && p.drawn {
		fmt.Fprintln(p.w)
	}
}

func bytesText(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// runPublish shares PATH through the node, showing hashing progress, and
// prints the magnet on the last line of stdout.
func runPublish(ctx context.Context, g *globals, args []string) error {
	c, err := g.dial()
	if err != nil {
		return err
	}
	path, err := filepath.Abs(args[0])
	if err != nil {
		return err
	}
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("cannot publish %s: %w", args[0], unwrapPath(err))
	}
	resp, err := c.send(ctx, http.MethodPost, "/api/v1/publish", map[string]string{"path": path, "name": g.name})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	bar := newProgressBar(g.stderr)
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var line struct {
			Done, Total int64
			Error       string
			Item        *engine.Item
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			return fmt.Errorf("bad answer from the node: %w", err)
		}
		switch {
		case line.Error != "":
			bar.finish()
			return fmt.Errorf("the node says: %s", line.Error)
		case line.Item != nil:
			bar.draw("hashing", line.Item.Size, line.Item.Size, "")
			bar.finish()
			if g.jsonOut {
				return json.NewEncoder(g.stdout).Encode(line.Item)
			}
			fmt.Fprintf(g.stdout, "published %s (%s, %s)\ninfohash %s\n%s\n",
				line.Item.Name, bytesText(line.Item.Size), line.Item.Kind, line.Item.InfoHash, line.Item.Magnet)
			return nil
		default:
			bar.draw("hashing", line.Done, line.Total, "")
		}
	}
	bar.finish()
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

// runGet adds a download and, unless --no-wait, follows it with a progress
// bar until every piece is verified.
func runGet(ctx context.Context, g *globals, args []string) error {
	c, err := g.dial()
	if err != nil {
		return err
	}
	out := g.out
	if out != "" {
		if out, err = filepath.Abs(out); err != nil {
			return err
		}
	}
	req := map[string]any{"spec": args[0], "out_dir": out}
	if engine.IsTorrentFile(args[0]) {
		// A .torrent file on this machine: the node may run elsewhere, so
		// its bytes go with the request.
		mi, err := os.ReadFile(args[0])
		if err != nil {
			return fmt.Errorf("cannot read %s: %w", args[0], unwrapPath(err))
		}
		req = map[string]any{"torrent": mi, "out_dir": out}
	}
	var st engine.Status
	if err := c.doJSON(ctx, http.MethodPost, "/api/v1/items", req, &st); err != nil {
		return err
	}
	if g.noWait {
		fmt.Fprintf(g.stdout, "queued %s %s\n", st.InfoHash, st.Name)
		return nil
	}
	bar := newProgressBar(g.stderr)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	// The node's events wake the loop as soon as a piece lands or the item
	// completes; the ticker is the fallback if the stream is not there.
	wake, stopWatching := c.watch(ctx, engine.EventProgress, engine.EventComplete)
	defer stopWatching()
	for {
		if st.State == engine.StateSeeding {
			bar.draw("downloading", st.Size, st.Size, "")
			bar.finish()
			fmt.Fprintf(g.stdout, "complete %s %s\n%s\n", st.InfoHash, st.Name, filepath.Join(st.Dir, st.Name))
			return nil
		}
		if st.State == engine.StatePaused {
			bar.finish()
			return fmt.Errorf("the download of %s was paused", st.Name)
		}
		if st.Error != "" {
			bar.finish()
			return fmt.Errorf("download of %s: %s", st.InfoHash, st.Error)
		}
		label := "downloading"
		if st.State == engine.StateQueued {
			label = "finding peers"
		}
		eta := "ETA -"
		if st.ETA > 0 {
			eta = "ETA " + st.ETA.Round(time.Second).String()
		}
		bar.draw(label, st.Completed, st.Size, fmt.Sprintf("%s/s, %d peers, %s", bytesText(st.DownRate), st.Peers, eta))
		select {
		case <-ctx.Done():
			bar.finish()
			return fmt.Errorf("stopped waiting; the download goes on in the node (see 'shoal ls')")
		case <-tick.C:
		case <-wake:
		}
		if err := c.do(ctx, http.MethodGet, "/api/v1/items/"+st.InfoHash, &st); err != nil {
			bar.finish()
			return err
		}
	}
}

// runLs lists this node's items with their state, or the network's catalog.
func runLs(ctx context.Context, g *globals, args []string) error {
	c, err := g.dial()
	if err != nil {
		return err
	}
	q := ""
	if len(args) == 1 {
		q = args[0]
	}
	tw := tabwriter.NewWriter(g.stdout, 0, 0, 2, ' ', 0)
	defer tw.Flush()
	if g.wholeNetwork {
		var entries []catalog.Entry
		if err := c.do(ctx, http.MethodGet, "/api/v1/catalog?q="+url.QueryEscape(q), &entries); err != nil {
			return err
		}
		if g.jsonOut {
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
	if g.jsonOut {
		return json.NewEncoder(g.stdout).Encode(items)
	}
	fmt.Fprintln(tw, "NAME\tSIZE\tSTATE\tDONE\tPEERS\tORIGIN\tINFOHASH")
	for _, st := range items {
		if q != "" && !strings.Contains(strings.ToLower(st.Name), strings.ToLower(q)) && !strings.HasPrefix(st.InfoHash, strings.ToLower(q)) {
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

func runPeers(ctx context.Context, g *globals, _ []string) error {
	c, err := g.dial()
	if err != nil {
		return err
	}
	var members []membership.Member
	if err := c.do(ctx, http.MethodGet, "/api/v1/members", &members); err != nil {
		return err
	}
	if g.jsonOut {
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

func itemAction(action string) func(context.Context, *globals, []string) error {
	return func(ctx context.Context, g *globals, args []string) error {
		c, err := g.dial()
		if err != nil {
			return err
		}
		var st engine.Status
		if err := c.do(ctx, http.MethodPost, "/api/v1/items/"+url.PathEscape(args[0])+"/"+action, &st); err != nil {
			return err
		}
		fmt.Fprintf(g.stdout, "%s: %s %s\n", action, st.Name, st.State)
		return nil
	}
}

func runRm(ctx context.Context, g *globals, args []string) error {
	c, err := g.dial()
	if err != nil {
		return err
	}
	path := "/api/v1/items/" + url.PathEscape(args[0])
	if g.deleteData {
		path += "?data=1"
	}
	if err := c.do(ctx, http.MethodDelete, path, nil); err != nil {
		return err
	}
	fmt.Fprintf(g.stdout, "removed %s\n", args[0])
	return nil
}
