// Package engine is the BitTorrent engine of one Shoal node.
//
// It wraps one anacrolix/torrent client (TCP and uTP on one port, with a DHT
// server on the same UDP socket) and keeps everything it must remember in the
// node's bbolt database: piece completion (so a restart resumes without
// rehashing), the items it publishes, downloads and caches, and when each was
// last read. It publishes files and folders in place, fetches by magnet,
// infohash or .torrent, serves content over HTTP (GET/HEAD /cdn/<infohash>/...)
// while it downloads, keeps gateway content as an LRU cache within a quota,
// and offers the DHT to the membership code for its own keys.
//
// Torrent data lives in plain files read and written with pread/pwrite; the
// package does not use anacrolix's mmap file storage, because a published file
// truncated under a mapping would kill the process with SIGBUS, and its
// handles are never released when a torrent is dropped.
//
// The engine imports no other Shoal package but storage; the node wires it to
// the event bus, the control API and the membership through Config.
package engine
