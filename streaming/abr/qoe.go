package abr

import (
	"math"
	"time"
)

// RebufferPenalty is QoE_lin's weight of one second of rebuffering, in units
// of 1 Mbps of bitrate for one segment (MPC, Pensieve).
const RebufferPenalty = 4.3

// QoE records what a viewer saw during one session and scores it with
// QoE_lin: per segment R/1000 − 4.3·rebuffer_s − |R − R_prev|/1000, R the
// segment's bitrate in kbps. Start-up delay is recorded apart, not in the
// score. The zero value is an empty record; the player and the simulator
// call Played for every segment as it starts to play and Stall for every
// interruption after start-up.
type QoE struct {
	Segments    int           `json:"segments"`
	BitrateSum  float64       `json:"bitrate_sum_kbps"` // Σ R
	SwitchSum   float64       `json:"switch_sum_kbps"`  // Σ |R − R_prev|
	Switches    int           `json:"switches"`
	Rebuffers   int           `json:"rebuffers"` // interruptions after start-up
	Rebuffer    time.Duration `json:"rebuffer"`  // their total length
	Startup     time.Duration `json:"startup"`   // request of the first segment to first frame
	LastBitrate float64       `json:"last_bitrate_kbps"`
}

// Played records that a segment at bitrate kbps started to play.
func (q *QoE) Played(kbps float64) {
	if q.Segments > 0 && kbps != q.LastBitrate {
		q.Switches++
		q.SwitchSum += math.Abs(kbps - q.LastBitrate)
	}
	q.Segments++
	q.BitrateSum += kbps
	q.LastBitrate = kbps
}

// Stall records an interruption of playback after start-up. Consecutive
// calls for one interruption count once when the later ones have newEvent
// false.
func (q *QoE) Stall(d time.Duration, newEvent bool) {
	if d <= 0 {
		return
	}
	q.Rebuffer += d
	if newEvent {
		q.Rebuffers++
	}
}

// Score is the session's total QoE_lin.
func (q *QoE) Score() float64 {
	return q.BitrateSum/1000 - RebufferPenalty*q.Rebuffer.Seconds() - q.SwitchSum/1000
}

// PerSegment is QoE_lin averaged over the segments played (Sabre's and
// Pensieve's figure); 0 when nothing played.
func (q *QoE) PerSegment() float64 {
	if q.Segments == 0 {
		return 0
	}
	return q.Score() / float64(q.Segments)
}

// Session is the length of the session in segments of duration seg: the
// segments played, the time spent rebuffering and the start-up delay.
func (q *QoE) Session(seg time.Duration) float64 {
	if seg <= 0 {
		return 0
	}
	return (float64(q.Segments)*float64(seg) + float64(q.Rebuffer) + float64(q.Startup)) / float64(seg)
}

// TimeAverage is QoE_lin averaged over the session's length in segments of
// duration seg (Session), the way Sabre reports its "time average" figures:
// a session that rebuffers long is spread over more segment times. 0 when
// nothing played.
func (q *QoE) TimeAverage(seg time.Duration) float64 {
	n := q.Session(seg)
	if q.Segments == 0 || n <= 0 {
		return 0
	}
	return q.Score() / n
}

// MeanBitrate is the mean bitrate in kbps over the segments played.
func (q *QoE) MeanBitrate() float64 {
	if q.Segments == 0 {
		return 0
	}
	return q.BitrateSum / float64(q.Segments)
}
