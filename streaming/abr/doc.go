// Package abr chooses which rendition of a DASH movie to fetch next.
//
// An Algorithm is a pure function of the session state (State): the buffer
// level, the throughput history, the ladder, the known segment sizes and
// what the group's members hold of the upcoming segments. Whatever an
// algorithm must remember between two choices (BOLA-E's placeholder buffer,
// its safety factor) travels in State.Memory and comes back in
// Decision.Memory, so the same code drives the player in the node and the
// trace-driven simulator in streaming/abrsim, and a choice can be replayed
// from a recorded state.
//
// Three algorithms are provided: Throughput (dash.js ThroughputRule), BolaE
// (dash.js BolaRule, BOLA-E) and Shoal (robust MPC over the known segment
// sizes with a capped error bound, a buffer reserve and its own
// abandonment rule, aware of segments held locally or by close members),
// the default. Abandon is dash.js's AbandonRequestsRule, called by
// player and simulator while a download runs. QoE records what a viewer saw
// and scores it with QoE_lin.
package abr
