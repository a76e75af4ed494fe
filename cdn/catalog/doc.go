// Package catalog is the network's catalog: what each node shares, and who
// holds what.
//
// The node feeds the local catalog (AddLocal, RemoveLocal) as its BitTorrent
// engine publishes, fetches and drops content; the catalog does not know the
// engine. Every change bumps the local catalog version, which goes into the
// node's signed membership record, so gossip tells every member that there is
// something new. A node fetches a member's catalog (GET /peer/v1/catalog on
// the member's peer API) when the member's record shows a version other than
// the one it holds, keeps the union in its database (buckets "catalog.*"),
// drops a member's items when the member is removed from the table, and
// answers searches by name over its own and the network's items, with the
// members holding each.
package catalog
