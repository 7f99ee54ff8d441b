package configsync

// Transport is what the Store needs from the cluster. The agent implements
// it over memberlist (a TransmitLimitedQueue of NamedBroadcasts, plus
// SendBestEffort and SendReliable), prefixing its routing byte; tests
// implement it in memory. Messages handed to it are owned by the Transport
// from then on: the Store never modifies them again.
type Transport interface {
	// Broadcast queues msg for gossip. key names the broadcast: a queued
	// message under the same key is replaced by the newer one (memberlist
	// NamedBroadcast invalidation). local marks this node's own writes,
	// which go out ahead of relayed ones. The Store calls it with its
	// lock held, so that a key's messages arrive in version order: it must
	// not block and must not call back into the Store.
	Broadcast(key string, msg []byte, local bool)
	// Forward sends msg now, best effort (UDP), to up to fanout random live
	// peers other than this node and except (a node name, "" for none),
	// so a write need not wait for the next gossip tick. It must not block
	// for long (no reliable send, no waiting on a peer); it may be called
	// from any goroutine, concurrently.
	Forward(msg []byte, fanout int, except string)
	// Send delivers msg reliably (TCP) to node, which hands it to its
	// Store's HandleMessage. It may block up to the transport's timeout.
	// The Store calls it only from its own sender goroutines, never from
	// HandleMessage or MergeRemoteState, and from at most
	// Config.SendWorkers goroutines at once.
	Send(node string, msg []byte) error
}

type nopTransport struct{}

func (nopTransport) Broadcast(string, []byte, bool)   {}
func (nopTransport) Forward([]byte, int, string)      {}
func (nopTransport) Send(node string, _ []byte) error { return nil }

var _ Transport = nopTransport{}
