package testenv

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Restricted is an embedded broker with SASL/PLAIN and ACLs enforced: a
// superuser (AdminUser, AdminPassword) and a user limited to its ACLs.
type Restricted struct {
	Addr string
}

// Superuser of a Restricted broker.
const (
	AdminUser     = "admin"
	AdminPassword = "admin-password"
)

// AllowTopics is an ACL allowing op on every topic.
func AllowTopics(op kmsg.ACLOperation) kfake.ACL {
	return kfake.ACL{Resource: kmsg.ACLResourceTypeTopic, Name: "*", Pattern: kmsg.ACLResourcePatternTypeLiteral, Operation: op, Allow: true}
}

// RestrictedBroker starts an in-memory broker (kfake, as package broker
// runs it, one node) where user, with password over SASL/PLAIN, may do
// only what acls allow (for instance write but not create topics), and
// stops it when the test ends. The broker package runs superusers only,
// so this builds the cluster itself.
func RestrictedBroker(t testing.TB, user, password string, acls ...kfake.ACL) Restricted {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.EnableSASL(), kfake.EnableACLs(),
		kfake.Superuser("PLAIN", AdminUser, AdminPassword), kfake.User("PLAIN", user, password, acls...))
	if err != nil {
		t.Fatalf("testenv: restricted broker: %v", err)
	}
	t.Cleanup(c.Close)
	return Restricted{Addr: c.ListenAddrs()[0]}
}
