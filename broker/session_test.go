package broker_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/turnstile-streams/turnstile/broker"
)

// TestMemberKilledWhileJoiningExpires is the regression test for the patch
// we carry in third_party/kfake (see its PATCHES.md): a group member that
// dies while its JoinGroup is parked in the broker must still be expired
// after its session timeout, as Apache Kafka does.
//
// Unpatched kfake armed a member's session timer only when the JoinGroup
// response was handed to a live connection. A member that joined from
// scratch has no timer while it waits (JoinGroup v3 never had one, v4+
// stops the pending-member timer), so when its process was killed during
// the wait the group completed the rebalance with the dead member in it,
// went Stable, and kept it (and its partitions) forever. The reply to a
// dead connection fails only about half the time (kfake's per-connection
// response channel is buffered), so the test runs several groups at once:
// unpatched, at least one of them keeps its dead member with probability
// 1-2^-8.
func TestMemberKilledWhileJoiningExpires(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	b, err := broker.Start(ctx, broker.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)

	const groups = 8
	var wg sync.WaitGroup
	errs := make(chan error, groups)
	for i := range groups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Odd groups join the way sarama (goka) does with
			// Version 2.1 (JoinGroup v3, the member id comes with the
			// parked response); even ones the way franz-go does (v5:
			// MEMBER_ID_REQUIRED first, then a parked join with it).
			joinVersion := int16(5)
			if i%2 == 1 {
				joinVersion = 3
			}
			if err := killWhileJoining(ctx, b.Addr(), adm, fmt.Sprintf("g%d", i), joinVersion); err != nil {
				errs <- fmt.Errorf("group g%d (JoinGroup v%d): %w", i, joinVersion, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

const sessionTimeout = 6 * time.Second // kfake's minimum

// killWhileJoining runs member A (alive, stable) and member B, whose
// connection is closed while its JoinGroup waits for A to rejoin. It
// returns once the group is down to A again, or an error if B is still in
// the group well after its session timeout.
func killWhileJoining(ctx context.Context, addr string, adm *kadm.Client, group string, bJoinVersion int16) error {
	a, err := dialMember(addr, group)
	if err != nil {
		return err
	}
	defer a.close()
	if err := a.joinAndSync(ctx); err != nil {
		return fmt.Errorf("member A: %w", err)
	}

	bconn, err := dialMember(addr, group)
	if err != nil {
		return err
	}
	if bJoinVersion >= 4 {
		// First join: MEMBER_ID_REQUIRED and an id, answered at once.
		resp, err := bconn.join(5)
		if err != nil {
			return err
		}
		if kerr.ErrorForCode(resp.ErrorCode) != kerr.MemberIDRequired {
			return fmt.Errorf("member B's first join: %v", kerr.ErrorForCode(resp.ErrorCode))
		}
		bconn.memberID = resp.MemberID
	}
	// The join that parks: the group waits for A to rejoin.
	if err := bconn.send(bconn.joinRequest(bJoinVersion)); err != nil {
		return err
	}
	if err := waitGroup(ctx, adm, group, func(g kadm.DescribedGroup) bool {
		return g.State == "PreparingRebalance" && len(g.Members) == 2
	}); err != nil {
		return fmt.Errorf("member B's join did not park: %w", err)
	}
	// SIGKILL, as far as the broker can tell.
	bconn.close()
	time.Sleep(200 * time.Millisecond)

	// A learns of the rebalance from its heartbeat, rejoins (completing
	// the rebalance with B's dead join in it) and keeps heartbeating. B
	// must be gone within its session timeout after that.
	deadline := time.Now().Add(3 * sessionTimeout)
	for time.Now().Before(deadline) {
		code, err := a.heartbeat()
		if err != nil {
			return err
		}
		switch kerr.ErrorForCode(code) {
		case nil:
		case kerr.RebalanceInProgress:
			if err := a.joinAndSync(ctx); err != nil {
				return fmt.Errorf("member A rejoining: %w", err)
			}
		default:
			return fmt.Errorf("member A's heartbeat: %v", kerr.ErrorForCode(code))
		}
		if a.members == 1 {
			return nil // A completed a rebalance without B
		}
		time.Sleep(time.Second)
	}
	var members []string
	if described, err := adm.DescribeGroups(ctx, group); err == nil {
		for _, m := range described[group].Members {
			members = append(members, m.MemberID)
		}
	}
	return fmt.Errorf("%v after the kill the dead member is still in the group (members %v)", 3*sessionTimeout, members)
}

func waitGroup(ctx context.Context, adm *kadm.Client, group string, ok func(kadm.DescribedGroup) bool) error {
	for {
		described, err := adm.DescribeGroups(ctx, group)
		if err == nil && ok(described[group]) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// rawMember speaks the classic group protocol on its own connection, so
// that closing it looks to the broker exactly like a killed process.
type rawMember struct {
	conn       net.Conn
	group      string
	memberID   string
	generation int32
	members    int // in the last join response A led
	corr       int32
	formatter  *kmsg.RequestFormatter
}

func dialMember(addr, group string) (*rawMember, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	return &rawMember{conn: conn, group: group, formatter: kmsg.NewRequestFormatter(kmsg.FormatterClientID("raw-" + group))}, nil
}

func (m *rawMember) close() { _ = m.conn.Close() }

func (m *rawMember) joinRequest(version int16) *kmsg.JoinGroupRequest {
	req := kmsg.NewPtrJoinGroupRequest()
	req.Version = version
	req.Group = m.group
	req.MemberID = m.memberID
	req.SessionTimeoutMillis = int32(sessionTimeout / time.Millisecond)
	req.RebalanceTimeoutMillis = 60_000
	req.ProtocolType = "consumer"
	meta := kmsg.NewConsumerMemberMetadata()
	meta.Topics = []string{"t"}
	p := kmsg.NewJoinGroupRequestProtocol()
	p.Name = "range"
	p.Metadata = meta.AppendTo(nil)
	req.Protocols = append(req.Protocols, p)
	return req
}

func (m *rawMember) join(version int16) (*kmsg.JoinGroupResponse, error) {
	req := m.joinRequest(version)
	resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
	return resp, m.call(req, resp)
}

// joinAndSync joins (as the leader when it is the only live member) and
// syncs an empty assignment for every member.
func (m *rawMember) joinAndSync(ctx context.Context) error {
	for ctx.Err() == nil {
		resp, err := m.join(5)
		if err != nil {
			return err
		}
		switch kerr.ErrorForCode(resp.ErrorCode) {
		case kerr.MemberIDRequired:
			m.memberID = resp.MemberID
			continue
		case nil:
		default:
			return fmt.Errorf("join: %v", kerr.ErrorForCode(resp.ErrorCode))
		}
		m.memberID, m.generation, m.members = resp.MemberID, resp.Generation, len(resp.Members)
		sync := kmsg.NewPtrSyncGroupRequest()
		sync.Version = 3
		sync.Group, sync.MemberID, sync.Generation = m.group, m.memberID, m.generation
		for _, mem := range resp.Members {
			a := kmsg.NewSyncGroupRequestGroupAssignment()
			a.MemberID = mem.MemberID
			empty := kmsg.NewConsumerMemberAssignment()
			a.MemberAssignment = empty.AppendTo(nil)
			sync.GroupAssignment = append(sync.GroupAssignment, a)
		}
		sresp := sync.ResponseKind().(*kmsg.SyncGroupResponse)
		if err := m.call(sync, sresp); err != nil {
			return err
		}
		switch kerr.ErrorForCode(sresp.ErrorCode) {
		case nil:
			return nil
		case kerr.RebalanceInProgress:
			continue
		default:
			return fmt.Errorf("sync: %v", kerr.ErrorForCode(sresp.ErrorCode))
		}
	}
	return ctx.Err()
}

func (m *rawMember) heartbeat() (int16, error) {
	req := kmsg.NewPtrHeartbeatRequest()
	req.Version = 3
	req.Group, req.MemberID, req.Generation = m.group, m.memberID, m.generation
	resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
	err := m.call(req, resp)
	return resp.ErrorCode, err
}

func (m *rawMember) send(req kmsg.Request) error {
	m.corr++
	_ = m.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, err := m.conn.Write(m.formatter.AppendRequest(nil, req, m.corr))
	return err
}

// call sends req and reads its response. Only non-flexible versions are
// used, so the response header is just the correlation id.
func (m *rawMember) call(req kmsg.Request, resp kmsg.Response) error {
	if req.IsFlexible() {
		return fmt.Errorf("raw member: flexible version %d of request %d", req.GetVersion(), req.Key())
	}
	if err := m.send(req); err != nil {
		return err
	}
	_ = m.conn.SetReadDeadline(time.Now().Add(70 * time.Second))
	var size [4]byte
	if _, err := io.ReadFull(m.conn, size[:]); err != nil {
		return err
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(m.conn, body); err != nil {
		return err
	}
	if corr := int32(binary.BigEndian.Uint32(body)); corr != m.corr {
		return fmt.Errorf("raw member: correlation id %d, want %d", corr, m.corr)
	}
	resp.SetVersion(req.GetVersion())
	return resp.ReadFrom(body[4:])
}
