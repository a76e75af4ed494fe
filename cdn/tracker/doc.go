// Package tracker is the BitTorrent HTTP tracker every Shoal node runs on its
// peer API, so that ordinary BitTorrent clients, which know nothing of the
// group's DHT, find the group's seeders.
//
// It answers GET /announce (BEP 3, with the compact peer lists of BEP 23 and
// "peers6" of BEP 7) and GET /scrape (BEP 48). Its state is soft and held in
// memory with a size bound: a peer that does not announce again within twice
// the announce interval is forgotten, and a restart forgets everyone, who
// announce again on their next interval. Malformed requests get a bencoded
// "failure reason" with status 200, as trackers do.
//
// The peer's address is the request's source address. The "ip" parameter is
// honoured only when the request comes from a loopback address: several nodes
// on one machine listen on 127.0.0.2, 127.0.0.3, ... but announce from
// 127.0.0.1, and a client on this machine may announce its LAN address. From
// any other source it is ignored, so no one can point a swarm at a third
// party's address. Proxy headers (X-Forwarded-For) are not trusted either.
package tracker
