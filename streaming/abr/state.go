package abr

import (
	"fmt"
	"strings"
	"time"
)

// Algorithm chooses the rendition of the next segment.
//
// Choose must not modify s; whatever it needs to remember for the next
// choice it returns in Decision.Memory, which the caller puts in the next
// State's Memory unchanged.
type Algorithm interface {
	Name() string
	Choose(s *State) Decision
}

// Abandoner is implemented by an algorithm that has its own rule for giving
// up a download in flight (BOLA-E has). Others get Abandon.
type Abandoner interface {
	Abandon(s *State, p Progress) (to int, ok bool)
}

// Decision is the outcome of one choice.
type Decision struct {
	Rendition int           // index into State.Bitrates
	Delay     time.Duration // wait this long before sending the request
	Memory    any           // the algorithm's memory, for the next State
}

// Download is one finished or abandoned segment request.
type Download struct {
	Segment   int
	Rendition int
	Size      float64       // bits of the whole segment
	Bits      float64       // bits received; less than Size when abandoned
	Latency   time.Duration // request sent to first bit received
	Transfer  time.Duration // first bit to last bit received
	Abandoned bool
	AbandonTo int           // rendition the abandonment rule proposed
	Buffer    time.Duration // buffer level when the download ended
}

// Throughput is the measured rate of the download in kbps (bits per ms),
// latency excluded; 0 when nothing was transferred.
func (d Download) Throughput() float64 {
	ms := msec(d.Transfer)
	if ms <= 0 {
		return 0
	}
	return d.Bits / ms
}

// Holders is what the group knows about one upcoming segment, per rendition.
// Slices may be nil or shorter than the ladder: missing entries mean not held.
type Holders struct {
	Local []bool          // this node already holds the segment in that rendition
	Count []int           // members holding it
	RTT   []time.Duration // round trip to the nearest holder; 0 when unknown
}

func (h *Holders) local(r int) bool {
	return h != nil && r < len(h.Local) && h.Local[r]
}

func (h *Holders) count(r int) int {
	if h == nil || r >= len(h.Count) {
		return 0
	}
	return h.Count[r]
}

func (h *Holders) rtt(r int) time.Duration {
	if h == nil || r >= len(h.RTT) {
		return 0
	}
	return h.RTT[r]
}

// State is everything an algorithm sees when it chooses.
type State struct {
	Segment         int // index of the segment to choose a rendition for
	Segments        int // segments in the movie; 0 when unknown (live)
	SegmentDuration time.Duration
	Bitrates        []float64   // kbps per rendition, lowest first
	Sizes           [][]float64 // Sizes[segment][rendition] in bits; rows may be missing or empty

	Buffer       time.Duration // media buffered ahead of the play position
	BufferTarget time.Duration // level the player aims to keep; 0 means BufferMax
	BufferMax    time.Duration // the player never buffers more than this

	History []Download    // every request of the session, oldest first
	Idle    time.Duration // waited for room in a full buffer since the last download

	// Holders[k] describes segment Segment+k; nil when nothing is known (no group).
	Holders []Holders

	Memory any // the Decision.Memory of the previous choice by the same algorithm
}

// Validate reports the first inconsistency that would make a choice
// meaningless.
func (s *State) Validate() error {
	if len(s.Bitrates) == 0 {
		return fmt.Errorf("abr: state has no bitrates")
	}
	for i, b := range s.Bitrates {
		if !(b > 0) {
			return fmt.Errorf("abr: bitrate %d is %v kbps, want > 0", i, b)
		}
		if i > 0 && b <= s.Bitrates[i-1] {
			return fmt.Errorf("abr: bitrates must rise: %v after %v kbps", b, s.Bitrates[i-1])
		}
	}
	if s.SegmentDuration <= 0 {
		return fmt.Errorf("abr: segment duration %v, want > 0", s.SegmentDuration)
	}
	if s.BufferMax < s.SegmentDuration {
		return fmt.Errorf("abr: buffer maximum %v is less than a segment (%v)", s.BufferMax, s.SegmentDuration)
	}
	return nil
}

// Size is the size in bits of segment seg in rendition r: the known size when
// there is one, else bitrate × segment duration.
func (s *State) Size(seg, r int) float64 {
	if seg >= 0 && seg < len(s.Sizes) && r < len(s.Sizes[seg]) && s.Sizes[seg][r] > 0 {
		return s.Sizes[seg][r]
	}
	return s.Bitrates[r] * msec(s.SegmentDuration)
}

// Last is the rendition of the latest request (finished or abandoned), 0 when
// there was none.
func (s *State) Last() int {
	if len(s.History) == 0 {
		return 0
	}
	return s.History[len(s.History)-1].Rendition
}

// Remaining is the number of segments from Segment to the end, or -1 when
// the movie's length is unknown.
func (s *State) Remaining() int {
	if s.Segments <= 0 {
		return -1
	}
	return s.Segments - s.Segment
}

func (s *State) holders(k int) *Holders {
	if k < 0 || k >= len(s.Holders) {
		return nil
	}
	return &s.Holders[k]
}

func (s *State) bufferTarget() time.Duration {
	if s.BufferTarget > 0 && s.BufferTarget < s.BufferMax {
		return s.BufferTarget
	}
	return s.BufferMax
}

// New returns the algorithm called name: "throughput", "bolae" or "shoal".
func New(name string) (Algorithm, error) {
	switch strings.ToLower(name) {
	case "throughput":
		return Throughput{}, nil
	case "bolae", "bola-e", "bola":
		return BolaE{}, nil
	case "shoal", "":
		return Shoal{}, nil
	}
	return nil, fmt.Errorf("abr: no algorithm %q (have throughput, bolae, shoal)", name)
}

// msec converts a duration to float milliseconds, the unit of the formulas
// (bits / ms = kbps).
func msec(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// dur converts float milliseconds back to a duration.
func dur(ms float64) time.Duration { return time.Duration(ms * float64(time.Millisecond)) }
