package membership

import (
	"fmt"
	"time"
)

// State is how a member answers.
type State int

// Member states. A member that fails to answer is suspect; one that has not
// answered for SuspectAfter is down; a down member is removed after
// RemoveAfter more.
const (
	Alive State = iota
	Suspect
	Down
)

var stateNames = [...]string{Alive: "alive", Suspect: "suspect", Down: "down"}

func (s State) String() string {
	if s < 0 || int(s) >= len(stateNames) {
		return fmt.Sprintf("State(%d)", int(s))
	}
	return stateNames[s]
}

// MarshalText writes the state's name.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a state's name.
func (s *State) UnmarshalText(b []byte) error {
	for i, n := range stateNames {
		if n == string(b) {
			*s = State(i)
			return nil
		}
	}
	return fmt.Errorf("membership: unknown state %q", b)
}

// Member is one node of the network as this node sees it.
type Member struct {
	Record Record `json:"record"`
	// DisplayName is Record.Name, or NAME-<id prefix> when another member
	// claimed NAME earlier.
	DisplayName string `json:"display_name"`
	// Self is the local node.
	Self  bool  `json:"self,omitempty"`
	State State `json:"state"`
	// LastSeen is the last time the member answered this node; zero if it
	// never did (it was learned from others).
	LastSeen time.Time `json:"last_seen"`
	// RTT is the smoothed round trip time to the member's peer API.
	RTT time.Duration `json:"rtt"`
	// FirstSeen is when this node learned of the member.
	FirstSeen time.Time `json:"first_seen"`
	// NameSince is the claim time of Record.Name as first seen here; later
	// records of the member cannot move it.
	NameSince time.Time `json:"name_since"`
	// DownSince is when the member was marked down; zero if it is not.
	DownSince time.Time `json:"down_since,omitempty"`
}

// ID is the member's node id.
func (m Member) ID() string { return m.Record.ID }

// ChangeKind says what happened to a member.
type ChangeKind int

// Kinds of change.
const (
	// Joined: a member was added to the table.
	Joined ChangeKind = iota + 1
	// Updated: the member's record or display name changed.
	Updated
	// StateChanged: the member became alive, suspect or down.
	StateChanged
	// Removed: the member left the table.
	Removed
)

var changeNames = [...]string{Joined: "joined", Updated: "updated", StateChanged: "state", Removed: "removed"}

func (k ChangeKind) String() string {
	if k <= 0 || int(k) >= len(changeNames) {
		return fmt.Sprintf("ChangeKind(%d)", int(k))
	}
	return changeNames[k]
}

// MarshalText writes the kind's name.
func (k ChangeKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// Change is one change of the table, as subscribers see it. Member is the
// member after the change (before it, for Removed).
type Change struct {
	Kind   ChangeKind `json:"kind"`
	Member Member     `json:"member"`
}
