package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/shoal-p2p/shoal/cdn"
	"github.com/shoal-p2p/shoal/node"
)

// networkCmd is the `shoal network` group: which network the node is in,
// and private networks (create, invite, join, rekey, remove).
type networkCmd struct {
	Show   networkShowCmd   `cmd:"" default:"1" help:"Say which network the node is in and whether it is open or private (the default)."`
	Create networkCreateCmd `cmd:"" help:"Make a private network NAME with a new key; this node is its first member."`
	Invite networkInviteCmd `cmd:"" help:"Print an invitation (a shoal: link) to the private network."`
	Join   networkJoinCmd   `cmd:"" help:"Join a private network with an invitation."`
	Rekey  networkRekeyCmd  `cmd:"" help:"Make a new network key and hand it to the live members."`
	Remove networkRemoveCmd `cmd:"" help:"Drop a member; in a private network, rekey without it so that it is shut out."`
}

type networkShowCmd struct{}

func (networkShowCmd) Run(ctx context.Context, g *Globals) error {
	c, err := g.dial()
	if err != nil {
		return err
	}
	var info node.NetworkInfo
	if err := c.do(ctx, http.MethodGet, "/api/v1/network/info", &info); err != nil {
		return err
	}
	if g.JSON {
		return json.NewEncoder(g.stdout).Encode(info)
	}
	printNetwork(g, info)
	return nil
}

func printNetwork(g *Globals, info node.NetworkInfo) {
	tw := tabwriter.NewWriter(g.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "network\t%s\nkind\t%s\n", info.Network, info.Kind)
	if info.Private {
		fmt.Fprintf(tw, "key\t%s (fingerprint)\nrefused\t%d connections without the key\n", info.Fingerprint, info.RefusedAtHandshake)
	}
	fmt.Fprintf(tw, "members\t%d\n", info.Members)
	if s := info.Saved; s != nil {
		fmt.Fprintf(tw, "next start\t%s, %s, joining through %s\n", s.Network, kindText(s.Private), strings.Join(s.Join, " "))
	}
	tw.Flush()
	if info.Saved != nil {
		fmt.Fprintln(g.stdout, "Restart the node to move to the saved network.")
	}
}

func kindText(private bool) string {
	if private {
		return "private"
	}
	return "open"
}

type networkCreateCmd struct {
	Name string `arg:"" placeholder:"NAME" help:"The network's name, a DNS label."`
}

// Run asks the running node, or, with none running, writes the data dir
// itself: the next start is in the new network.
func (c *networkCreateCmd) Run(ctx context.Context, g *Globals) error {
	cl, err := g.dial()
	if err != nil && g.API == "" {
		if _, err := node.CreateNetwork(g.Data, c.Name); err != nil {
			return err
		}
		fmt.Fprintf(g.stdout, "Private network %s created in %s; start the node ('shoal node'), then 'shoal network invite' to invite others.\n", c.Name, g.Data)
		return nil
	}
	if err != nil {
		return err
	}
	var info node.NetworkInfo
	if err := cl.doJSON(ctx, http.MethodPost, "/api/v1/network/create", map[string]string{"name": c.Name}, &info); err != nil {
		return err
	}
	if g.JSON {
		return json.NewEncoder(g.stdout).Encode(info)
	}
	if info.Restarting {
		fmt.Fprintf(g.stdout, "Private network %s created; the node is starting again in it. Then 'shoal network invite'.\n", c.Name)
		return nil
	}
	fmt.Fprintf(g.stdout, "Private network %s created; restart the node to move to it, then 'shoal network invite'.\n", c.Name)
	return nil
}

type networkInviteCmd struct {
	Expires time.Duration `placeholder:"DURATION" help:"How long the invitation is good for, such as 24h or 30m (default: no expiry)."`
}

func (c *networkInviteCmd) Run(ctx context.Context, g *Globals) error {
	if c.Expires < 0 {
		return usagef("--expires must be positive, such as 24h")
	}
	cl, err := g.dial()
	if err != nil {
		return err
	}
	req := map[string]string{}
	if c.Expires > 0 {
		req["expires"] = c.Expires.String()
	}
	var res node.InviteResult
	if err := cl.doJSON(ctx, http.MethodPost, "/api/v1/network/invite", req, &res); err != nil {
		return err
	}
	if g.JSON {
		return json.NewEncoder(g.stdout).Encode(res)
	}
	fmt.Fprintln(g.stdout, res.Invite)
	if res.Expires != nil {
		fmt.Fprintf(g.stderr, "good until %s; it carries the network key: send it only to whom you invite\n", res.Expires.Local().Format(time.DateTime))
	} else {
		fmt.Fprintln(g.stderr, "no expiry; it carries the network key: send it only to whom you invite")
	}
	return nil
}

type networkJoinCmd struct {
	Invite string `arg:"" placeholder:"INVITE" help:"The shoal: link a member printed with 'shoal network invite'."`
}

// Run asks the running node, or, with none running, writes the data dir
// itself; either way the node joins when it (re)starts.
func (c *networkJoinCmd) Run(ctx context.Context, g *Globals) error {
	cl, err := g.dial()
	if err != nil && g.API == "" {
		in, err := node.JoinNetwork(g.Data, c.Invite, time.Now())
		if err != nil {
			return err
		}
		fmt.Fprintf(g.stdout, "Invitation to the private network %s accepted; start the node ('shoal node') to join through %s.\n", in.Network, strings.Join(in.Addrs, " "))
		return nil
	}
	if err != nil {
		return err
	}
	var info node.NetworkInfo
	if err := cl.doJSON(ctx, http.MethodPost, "/api/v1/network/join", map[string]string{"invite": c.Invite}, &info); err != nil {
		return err
	}
	if g.JSON {
		return json.NewEncoder(g.stdout).Encode(info)
	}
	if info.Saved == nil {
		fmt.Fprintf(g.stdout, "This node is a member of %s already.\n", info.Network)
		return nil
	}
	if info.Restarting {
		fmt.Fprintf(g.stdout, "Invitation to the private network %s accepted; the node is starting again to join.\n", info.Saved.Network)
		return nil
	}
	fmt.Fprintf(g.stdout, "Invitation to the private network %s accepted; restart the node to join.\n", info.Saved.Network)
	return nil
}

type networkRekeyCmd struct{}

func (networkRekeyCmd) Run(ctx context.Context, g *Globals) error {
	cl, err := g.dial()
	if err != nil {
		return err
	}
	var res cdn.RekeyResult
	if err := cl.do(ctx, http.MethodPost, "/api/v1/network/rekey", &res); err != nil {
		return err
	}
	return printRekey(g, res)
}

func printRekey(g *Globals, res cdn.RekeyResult) error {
	if g.JSON {
		return json.NewEncoder(g.stdout).Encode(res)
	}
	for _, id := range res.Removed {
		fmt.Fprintf(g.stdout, "removed %s\n", id)
	}
	if res.Fingerprint == "" {
		return nil
	}
	fmt.Fprintf(g.stdout, "new key %s, sent to %d %s\n", res.Fingerprint, len(res.Sent), plural(len(res.Sent), "member", "members"))
	for id, why := range res.Failed {
		fmt.Fprintf(g.stdout, "not sent to %s (%s): it needs a new invitation\n", id, why)
	}
	return nil
}

type networkRemoveCmd struct {
	ID string `arg:"" placeholder:"ID" help:"The member's id or display name (see 'shoal peers')."`
}

func (c *networkRemoveCmd) Run(ctx context.Context, g *Globals) error {
	cl, err := g.dial()
	if err != nil {
		return err
	}
	var res cdn.RekeyResult
	if err := cl.doJSON(ctx, http.MethodPost, "/api/v1/network/remove", map[string]string{"id": c.ID}, &res); err != nil {
		return err
	}
	return printRekey(g, res)
}
