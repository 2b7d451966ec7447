package swarm

// Torrent answers the torrent of infoHash (lowercase hex) this node runs, or nil. One node runs a
// torrent once: a second task for the same content (a push repeated, a publisher that is also a
// target) shares it instead of adding it again.
func (n *Node) Torrent(infoHash string) *Torrent {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.torrents[infoHash]
}
