package netns

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"os"
	"testing"
)

func TestCreateDoDelete(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces")
	}
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	name := "trl-nstest-" + hex.EncodeToString(b)
	if err := Create(name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = Delete(name) })
	if !Exists(name) {
		t.Fatalf("%s does not exist after Create", name)
	}
	outside, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	var inside []net.Interface
	if err := Do(name, func() error {
		var err error
		inside, err = net.Interfaces()
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(inside) != 1 || inside[0].Name != "lo" {
		t.Errorf("a new namespace should hold only lo, got %v", inside)
	}
	again, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	if len(again) != len(outside) {
		t.Errorf("namespace not restored after Do: %d interfaces before, %d after", len(outside), len(again))
	}
	boom := errors.New("boom")
	if err := Do(name, func() error { return boom }); !errors.Is(err, boom) {
		t.Errorf("Do returned %v, want the function's error", err)
	}
	if err := Create(name); err == nil {
		t.Error("creating an existing namespace succeeded")
	}
	if err := Delete(name); err != nil {
		t.Fatal(err)
	}
	if Exists(name) {
		t.Errorf("%s exists after Delete", name)
	}
	if err := Delete(name); err != nil {
		t.Errorf("deleting a missing namespace: %v", err)
	}
	if err := Do(name, func() error { return nil }); err == nil {
		t.Error("Do into a deleted namespace succeeded")
	}
}
