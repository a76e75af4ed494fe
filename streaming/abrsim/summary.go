package abrsim

import "math"

// Summary is one algorithm's figures over a set of traces: each metric
// averaged per trace (per segment where it says so), then over the traces,
// as Sabre's figures are.
type Summary struct {
	Algorithm string  `json:"algorithm"`
	Traces    int     `json:"traces"`
	QoE       float64 `json:"qoe_per_segment"`    // mean over traces of QoE_lin per segment
	QoEStd    float64 `json:"qoe_per_segment_sd"` // its standard deviation over traces
	// QoETime is the mean over traces of QoE_lin per segment of session
	// time (abr.QoE.TimeAverage), Sabre's figure.
	QoETime    float64        `json:"qoe_time_average"`
	QoETimeStd float64        `json:"qoe_time_average_sd"`
	Bitrate    float64        `json:"mean_bitrate_kbps"`
	Rebuffer   float64        `json:"rebuffer_s"` // per trace
	Rebuffers  float64        `json:"rebuffers"`  // interruptions per trace
	Switches   float64        `json:"switches"`   // per trace
	Startup    float64        `json:"startup_s"`
	Abandoned  float64        `json:"abandoned"` // per trace
	PerTrace   []TraceFigures `json:"per_trace,omitempty"`
}

// TraceFigures are one session's figures in a Summary.
type TraceFigures struct {
	Trace    string  `json:"trace"`
	QoE      float64 `json:"qoe_per_segment"`
	QoETime  float64 `json:"qoe_time_average"`
	Bitrate  float64 `json:"mean_bitrate_kbps"`
	Rebuffer float64 `json:"rebuffer_s"`
	Startup  float64 `json:"startup_s"`
}

// Summarize averages results of one algorithm.
func Summarize(name string, rs []*Result) Summary {
	s := Summary{Algorithm: name, Traces: len(rs)}
	if len(rs) == 0 {
		return s
	}
	for _, r := range rs {
		q := r.QoE.PerSegment()
		qt := r.QoE.TimeAverage(r.Segment)
		s.PerTrace = append(s.PerTrace, TraceFigures{
			Trace: r.Trace, QoE: q, QoETime: qt, Bitrate: r.QoE.MeanBitrate(),
			Rebuffer: r.QoE.Rebuffer.Seconds(), Startup: r.QoE.Startup.Seconds(),
		})
		s.QoE += q
		s.QoETime += qt
		s.Bitrate += r.QoE.MeanBitrate()
		s.Rebuffer += r.QoE.Rebuffer.Seconds()
		s.Rebuffers += float64(r.QoE.Rebuffers)
		s.Switches += float64(r.QoE.Switches)
		s.Startup += r.QoE.Startup.Seconds()
		s.Abandoned += float64(r.Abandoned)
	}
	n := float64(len(rs))
	s.QoE /= n
	s.QoETime /= n
	s.Bitrate /= n
	s.Rebuffer /= n
	s.Rebuffers /= n
	s.Switches /= n
	s.Startup /= n
	s.Abandoned /= n
	for _, f := range s.PerTrace {
		s.QoEStd += (f.QoE - s.QoE) * (f.QoE - s.QoE)
		s.QoETimeStd += (f.QoETime - s.QoETime) * (f.QoETime - s.QoETime)
	}
	s.QoEStd = math.Sqrt(s.QoEStd / n)
	s.QoETimeStd = math.Sqrt(s.QoETimeStd / n)
	return s
}
