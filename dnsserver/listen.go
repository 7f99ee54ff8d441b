package dnsserver

import (
	"errors"
	"fmt"
	"net"
	"syscall"
)

// ListenTries bounds Listen's attempts with port 0.
const ListenTries = 50

// Listen binds UDP and TCP on the same address, for Run. With port 0 the
// kernel picks a free UDP port, which TCP may find taken (UDP and TCP
// ports are separate spaces; memberlist's own sockets and other processes
// use both): then both are released and a new port is tried, up to
// ListenTries times. A fixed port is tried once.
func Listen(addr string) (net.PacketConn, net.Listener, error) {
	return listen(addr, func(a string) (net.Listener, error) { return net.Listen("tcp", a) })
}

// listen is Listen with the TCP side injectable (tests make it collide).
func listen(addr string, listenTCP func(string) (net.Listener, error)) (net.PacketConn, net.Listener, error) {
	tries := 1
	if _, port, _ := net.SplitHostPort(addr); port == "0" {
		tries = ListenTries
	}
	for i := 1; ; i++ {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("dnsserver: %w", err)
		}
		ln, err := listenTCP(pc.LocalAddr().String()) // the port UDP got
		if err == nil {
			return pc, ln, nil
		}
		pc.Close()
		if i >= tries || !errors.Is(err, syscall.EADDRINUSE) {
			return nil, nil, fmt.Errorf("dnsserver: %w", err)
		}
	}
}
