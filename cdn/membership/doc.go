// Package membership keeps the member table of a Shoal network: who is in the
// group, how to reach them and whether they answer.
//
// Every node has a signed node record (Record): its name, key, addresses,
// advertised ports, services, user zone records and catalog version. Records
// spread by push-pull gossip over the peer API (POST /peer/v1/gossip) and are
// verified before they are stored: a bad signature, an id that does not match
// the key, another network or a sequence number not above the stored one is
// rejected. Members ping each other (GET /peer/v1/ping); one that stops
// answering is marked suspect, then down after SuspectAfter, and removed after
// a further grace period. Two members claiming one name: the earlier claim
// keeps it, the later is shown as NAME-<first 6 chars of its id>.
//
// The Table is persisted in the node's bbolt database (buckets
// "membership.*"), so a restart keeps the members. The node owns the peer
// API's http.ServeMux and calls Table.Routes; Table.Run is the gossip, ping
// and DHT discovery loop. Subscribers (the node's event bus, naming, catalog)
// learn of every change through Table.Subscribe.
package membership
