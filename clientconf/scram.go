package clientconf

import (
	"fmt"

	"github.com/xdg-go/scram"
)

// The hash a SCRAM mechanism uses.
const (
	scram256 = iota
	scram512
)

// scramClient adapts xdg-go/scram to sarama's SCRAMClient interface (sarama
// ships the interface, not an implementation).
type scramClient struct {
	gen  scram.HashGeneratorFcn
	conv *scram.ClientConversation
}

func newScramClient(hash int) *scramClient {
	if hash == scram512 {
		return &scramClient{gen: scram.SHA512}
	}
	return &scramClient{gen: scram.SHA256}
}

func (s *scramClient) Begin(user, pass, authzID string) error {
	cl, err := s.gen.NewClient(user, pass, authzID)
	if err != nil {
		return fmt.Errorf("clientconf: scram: %w", err)
	}
	s.conv = cl.NewConversation()
	return nil
}

func (s *scramClient) Step(challenge string) (string, error) {
	return s.conv.Step(challenge)
}

func (s *scramClient) Done() bool { return s.conv.Done() }
