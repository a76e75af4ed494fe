// Package abrsim plays a movie over a recorded network trace with an ABR
// algorithm from streaming/abr, the way Sabre (the dash.js team's simulator)
// does, and computes the offline optimum on the same inputs.
//
// Traces are Sabre's JSON (periods of bandwidth and latency) or Mahimahi's
// (one packet delivery opportunity per line); movies are Sabre's JSON (the
// size of every segment of every rendition) or built in code with NewMovie,
// for instance from an MPD and the sizes of its segment files. The network
// model charges each request the latency of the current period, then
// delivers bits at the bandwidth of each period in turn, repeating the
// trace when the movie outlasts it. The buffer fills by whole segments and
// drains in real time; an empty buffer after start-up is a rebuffer. The
// model is Sabre's down to when a download in flight is checked for
// abandonment, and QoE is reported both per segment of the movie and per
// segment of session time (Sabre's "time average"); docs/abr.md compares.
package abrsim
