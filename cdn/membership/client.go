package membership

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/shoal-p2p/shoal/cdn/peertls"
)

// Join gossips once with the member whose peer API is at hostport: this
// node learns the members it knows and they learn this node.
func (t *Table) Join(ctx context.Context, hostport string) error {
	if _, err := t.gossip(ctx, hostport, ""); err != nil {
		return fmt.Errorf("membership: join %s: %w", hostport, err)
	}
	return nil
}

// gossip runs one push-pull exchange with the peer API at addr. want is the
// id expected to answer, or "" when unknown (a join). It returns the id of
// the member that answered.
func (t *Table) gossip(ctx context.Context, addr, want string) (string, error) {
	req := GossipRequest{Network: t.cfg.Network, From: t.Self(), Digest: t.digest()}
	var resp GossipResponse
	start := time.Now()
	key, err := t.call(ctx, http.MethodPost, addr, PathGossip, want, req, &resp)
	if err != nil {
		return "", err
	}
	rtt := time.Since(start)
	from := resp.From.ID
	if want != "" && from != want {
		return "", fmt.Errorf("membership: %s is now %s, not %s", addr, from, want)
	}
	// Over TLS the record that answers must be of the key that answered,
	// also on a first join, where no key was expected.
	if key != nil && !key.Equal(resp.From.PublicKey) {
		t.log.Warn("membership: gossip answer refused", "remote", addr, "reason", "certificate key is not the record's")
		return "", fmt.Errorf("%w: %s answers with the certificate of %s and the record of %s",
			ErrCertMismatch, addr, NodeID(key), from)
	}
	recs := append([]Record{resp.From}, resp.Records...)
	if len(recs) > maxRecords+1 {
		return "", fmt.Errorf("membership: %s sent %d records", addr, len(recs))
	}
	for i := range recs {
		if err := t.check(&recs[i]); err != nil {
			t.log.Warn("membership: gossip answer refused", "remote", addr, "reason", err)
			return "", fmt.Errorf("membership: answer of %s: %w", addr, err)
		}
	}
	if from == t.ID() {
		return "", fmt.Errorf("membership: %s is this node", addr)
	}
	if err := t.apply(recs, from); err != nil {
		return "", err
	}
	t.markSeen(from, addr, rtt)
	if len(resp.Want) > 0 {
		push := GossipRequest{Network: t.cfg.Network, From: t.Self(), Records: t.records(resp.Want)}
		if _, err := t.call(ctx, http.MethodPost, addr, PathGossip, from, push, &GossipResponse{}); err != nil {
			return from, fmt.Errorf("membership: push to %s: %w", addr, err)
		}
	}
	return from, nil
}

// ping asks member id at addr whether it is there, and fetches its record
// if it says it has a newer one.
func (t *Table) ping(ctx context.Context, addr, id string, knownSeq uint64) error {
	var resp PingResponse
	start := time.Now()
	if _, err := t.call(ctx, http.MethodGet, addr, PathPing, id, nil, &resp); err != nil {
		return err
	}
	rtt := time.Since(start)
	if resp.ID != id || resp.Network != t.cfg.Network {
		return fmt.Errorf("membership: %s is now %s of %q, not %s", addr, resp.ID, resp.Network, id)
	}
	t.markSeen(id, addr, rtt)
	if resp.Seq <= knownSeq {
		return nil
	}
	var rec Record
	if _, err := t.call(ctx, http.MethodGet, addr, PathRecord, id, nil, &rec); err != nil {
		return err
	}
	if err := t.check(&rec); err != nil {
		return fmt.Errorf("membership: record from %s: %w", addr, err)
	}
	if rec.ID != id {
		return fmt.Errorf("membership: %s sent the record of %s, not %s", addr, rec.ID, id)
	}
	return t.apply([]Record{rec}, id)
}

// call does one request to a peer API and decodes the JSON answer. want is
// the id of the member meant, or "" when unknown; over TLS the client
// refuses another key, and call returns the key that answered (nil in clear).
func (t *Table) call(ctx context.Context, method, addr, path, want string, in, out any) (ed25519.PublicKey, error) {
	var body io.Reader
	if in != nil {
		raw, err := json.Marshal(in)
		if err != nil {
			return nil, fmt.Errorf("membership: encode %s: %w", path, err)
		}
		body = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(peertls.WithPeer(ctx, want), method, peertls.Scheme(t.cfg.PeerTLS)+"://"+addr+path, body)
	if err != nil {
		return nil, fmt.Errorf("membership: %w", err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("membership: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("membership: %s %s: %w", method, addr+path, err)
	}
	if len(raw) > maxBody {
		return nil, fmt.Errorf("membership: %s %s: answer larger than %d bytes", method, addr+path, maxBody)
	}
	if resp.StatusCode != http.StatusOK {
		var e errorBody
		json.Unmarshal(raw, &e)
		return nil, fmt.Errorf("membership: %s %s: %s: %s", method, addr+path, resp.Status, e.Error)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return nil, fmt.Errorf("membership: %s %s: %w", method, addr+path, err)
	}
	return peertls.PeerKey(resp.TLS), nil
}
