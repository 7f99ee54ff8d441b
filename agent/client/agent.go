package client

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"time"
)

// Members returns the cluster members sorted by name, only those in status
// (alive, suspect, failed, left) when status is not empty.
func (c *Client) Members(ctx context.Context, status string) ([]Member, error) {
	q := url.Values{}
	if status != "" {
		q.Set("status", status)
	}
	var out []Member
	_, err := c.call(ctx, http.MethodGet, "/v1/members", q, nil, &out)
	return out, err
}

// Self describes the agent.
func (c *Client) Self(ctx context.Context) (Self, error) {
	var out Self
	_, err := c.call(ctx, http.MethodGet, "/v1/agent/self", nil, nil, &out)
	return out, err
}

// Join asks the agent to join the cluster through addrs. It succeeds when
// at least one answered; the response says how many, and which did not.
func (c *Client) Join(ctx context.Context, addrs []string) (JoinResponse, error) {
	if len(addrs) == 0 {
		return JoinResponse{}, errors.New("client: join needs at least one address")
	}
	var out JoinResponse
	_, err := c.call(ctx, http.MethodPut, "/v1/agent/join", nil, JoinRequest{Addresses: addrs}, &out)
	return out, err
}

// Leave makes the agent leave the cluster gracefully; it shuts down
// afterwards.
func (c *Client) Leave(ctx context.Context) error {
	_, err := c.call(ctx, http.MethodPut, "/v1/agent/leave", nil, nil, nil)
	return err
}

// Coordinates returns the network coordinate of every member the agent
// knows, sorted by node.
func (c *Client) Coordinates(ctx context.Context) ([]Coordinate, error) {
	var out []Coordinate
	_, err := c.call(ctx, http.MethodGet, "/v1/coordinates", nil, nil, &out)
	return out, err
}

// RTT estimates the round trip between nodes from and to from network
// coordinates; from "" is the agent itself. ErrNotFound when a node has
// no coordinate.
func (c *Client) RTT(ctx context.Context, from, to string) (RTT, error) {
	q := url.Values{"to": {to}}
	if from != "" {
		q.Set("from", from)
	}
	var out RTT
	_, err := c.call(ctx, http.MethodGet, "/v1/rtt", q, nil, &out)
	return out, err
}

// Duration returns the estimate as a time.Duration.
func (r RTT) Duration() time.Duration { return time.Duration(r.Seconds * float64(time.Second)) }
