// Package naming is a node's DNS: an authoritative server for the group's
// zone (shoal. by default) and a caching resolver for every other name.
//
// Queries run through a chain of handlers in the manner of CoreDNS:
//
//	zone → recursion guard → cache → forwarder | iterator
//
// The zone answers the group's names (members, their services as SRV, their
// users' own records and content names that route to the members holding a
// copy). Other names go to the recursion guard, which offers recursion only to
// allowed clients, then to a TTL cache with negative caching, and on a miss to
// upstream servers (forwarding) or to the name server hierarchy from the root
// hints (iterative resolution).
//
// Server puts the chain on UDP and TCP with EDNS0, truncation and response
// rate limiting; Resolver runs the same chain in process for the node's own
// look-ups and records the path of each resolution (Answer.Steps).
//
// naming imports nothing from the rest of Shoal: the node passes the group's
// members (Members) and where content is held (ContentLocator).
package naming
