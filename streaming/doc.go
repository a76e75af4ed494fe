// Package streaming holds Shoal's DASH side: packaging with ffmpeg, the MPD,
// the player with its playout buffer, the ABR algorithms and QoE record, and
// the trace-driven ABR simulator (sub-packages below this folder).
package streaming
