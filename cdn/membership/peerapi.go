package membership

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/shoal-p2p/shoal/cdn/peertls"
)

// Routes of the membership part of the peer API.
const (
	// PathGossip: POST a GossipRequest, get a GossipResponse.
	PathGossip = "/peer/v1/gossip"
	// PathRecord: GET the node's own signed Record.
	PathRecord = "/peer/v1/record"
	// PathPing: GET a PingResponse, for liveness and round trip.
	PathPing = "/peer/v1/ping"
)

// Bounds on a gossip message.
const (
	maxBody    = 4 << 20
	maxRecords = 4096
)

// GossipRequest is one push-pull exchange. The caller sends its own record
// and a digest of the records it has (id -> seq); the server answers with the
// records the caller lacks or has older and the ids it wants, which the
// caller then pushes in a second request carrying Records and no Digest.
type GossipRequest struct {
	Network string            `json:"network"`
	From    Record            `json:"from"`
	Digest  map[string]uint64 `json:"digest,omitempty"`
	Records []Record          `json:"records,omitempty"`
}

// GossipResponse answers a GossipRequest. From is the server's own record.
// Records and Want are empty when the request had no digest (a push).
type GossipResponse struct {
	From    Record   `json:"from"`
	Records []Record `json:"records,omitempty"`
	Want    []string `json:"want,omitempty"`
}

// PingResponse says who answered and how new its record is, so the pinger
// can fetch a newer one.
type PingResponse struct {
	Network string `json:"network"`
	ID      string `json:"id"`
	Seq     uint64 `json:"seq"`
}

// Routes registers the membership routes on the peer API's mux.
func (t *Table) Routes(mux *http.ServeMux) {
	mux.HandleFunc("POST "+PathGossip, t.serveGossip)
	mux.HandleFunc("GET "+PathRecord, t.serveRecord)
	mux.HandleFunc("GET "+PathPing, t.servePing)
}

// serveGossip applies what the caller sends and answers its digest. A body
// that does not parse, is of another network, or holds any record that fails
// verification is refused whole with 400, and nothing of it is stored: a
// member relays only records it verified, so one bad record taints the rest.
//
// With PeerTLS, gossip in clear is refused with 403 before the body is
// read, and a caller that shows a certificate must send its own record.
func (t *Table) serveGossip(w http.ResponseWriter, r *http.Request) {
	if t.cfg.PeerTLS && r.TLS == nil {
		t.log.Warn("membership: gossip refused", "remote", r.RemoteAddr, "reason", "not over TLS")
		writeJSON(w, http.StatusForbidden, errorBody{"membership: gossip between members is over TLS only"})
		return
	}
	var req GossipRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody)).Decode(&req); err != nil {
		t.refuse(w, r, fmt.Errorf("membership: gossip body: %w", err))
		return
	}
	if req.Network != t.cfg.Network {
		t.refuse(w, r, fmt.Errorf("%w: %q, this is %q", ErrWrongNetwork, req.Network, t.cfg.Network))
		return
	}
	if len(req.Records) > maxRecords || len(req.Digest) > maxRecords {
		t.refuse(w, r, fmt.Errorf("membership: gossip of %d records and %d digest entries, at most %d",
			len(req.Records), len(req.Digest), maxRecords))
		return
	}
	if k := peertls.PeerKey(r.TLS); k != nil && !k.Equal(req.From.PublicKey) {
		t.refuse(w, r, fmt.Errorf("%w: caller shows the certificate of %s and the record of %s", ErrCertMismatch, NodeID(k), req.From.ID))
		return
	}
	recs := append([]Record{req.From}, req.Records...)
	for i := range recs {
		if err := t.check(&recs[i]); err != nil {
			t.refuse(w, r, fmt.Errorf("membership: record %d of %s: %w", i, req.From.ID, err))
			return
		}
	}
	if err := t.apply(recs, req.From.ID); err != nil {
		t.log.Error("membership: gossip", "err", err)
		writeJSON(w, http.StatusInternalServerError, errorBody{err.Error()})
		return
	}
	resp := GossipResponse{From: t.Self()}
	if len(req.Digest) > 0 {
		resp.Records, resp.Want = t.diff(req.Digest)
	}
	writeJSON(w, http.StatusOK, resp)
}

func (t *Table) serveRecord(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, t.Self())
}

func (t *Table) servePing(w http.ResponseWriter, _ *http.Request) {
	self := t.Self()
	writeJSON(w, http.StatusOK, PingResponse{Network: self.Network, ID: self.ID, Seq: self.Seq})
}

func (t *Table) refuse(w http.ResponseWriter, r *http.Request, err error) {
	level := "membership: gossip refused"
	if errors.Is(err, ErrBadSignature) || errors.Is(err, ErrIDMismatch) {
		level = "membership: forged record refused"
	}
	t.log.Warn(level, "remote", r.RemoteAddr, "reason", err)
	writeJSON(w, http.StatusBadRequest, errorBody{err.Error()})
}

type errorBody struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
