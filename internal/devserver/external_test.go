package devserver

import (
	"errors"
	"testing"
)

func TestExternal(t *testing.T) {
	calls := 0
	stopErr := errors.New("stopped with a complaint")
	s, err := External(ExternalOptions{Address: "127.0.0.1:7999", PID: 42, Stop: func() error { calls++; return stopErr }})
	if err != nil {
		t.Fatal(err)
	}
	if s.Address() != "127.0.0.1:7999" || s.Port() != 7999 || s.Namespace() != DefaultNamespace || s.PID() != 42 || s.UIURL() != "" {
		t.Errorf("External = %s %d %s %d %q", s.Address(), s.Port(), s.Namespace(), s.PID(), s.UIURL())
	}
	select {
	case <-s.Exited():
		t.Fatal("Exited before Stop")
	default:
	}
	if err := s.Stop(); !errors.Is(err, stopErr) {
		t.Errorf("Stop = %v, want the Stop func's error", err)
	}
	if err := s.Stop(); !errors.Is(err, stopErr) || calls != 1 {
		t.Errorf("second Stop = %v after %d calls, want the same error after one call", err, calls)
	}
	<-s.Exited()

	if _, err := External(ExternalOptions{Address: "no-port"}); err == nil {
		t.Error("External accepted an address without a port")
	}
	plain, err := External(ExternalOptions{Address: "[::1]:7233", Namespace: "ns"})
	if err != nil || plain.Stop() != nil || plain.Namespace() != "ns" {
		t.Errorf("External without Stop: %v", err)
	}
}
