package client

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
)

// Services summarises every service in the cluster catalog, sorted by name.
func (c *Client) Services(ctx context.Context) ([]ServiceSummary, error) {
	var out []ServiceSummary
	_, err := c.call(ctx, http.MethodGet, "/v1/services", nil, nil, &out)
	return out, err
}

// Service returns the instances of service name, only the passing ones on
// live nodes when passingOnly. ErrNotFound when the service is unknown.
func (c *Client) Service(ctx context.Context, name string, passingOnly bool) ([]ServiceInstance, error) {
	q := url.Values{}
	if passingOnly {
		q.Set("passing", "")
	}
	var out []ServiceInstance
	_, err := c.call(ctx, http.MethodGet, "/v1/services/"+segment(name), q, nil, &out)
	return out, err
}

// Register adds or replaces a service instance on the agent.
func (c *Client) Register(ctx context.Context, def ServiceDefinition) error {
	_, err := c.call(ctx, http.MethodPut, "/v1/agent/service/register", nil, def, nil)
	return err
}

// Deregister removes the agent's service instance id.
func (c *Client) Deregister(ctx context.Context, id string) error {
	_, err := c.call(ctx, http.MethodPut, "/v1/agent/service/deregister/"+segment(id), nil, nil, nil)
	return err
}

// checkPaths maps a health to its TTL update route.
var checkPaths = map[string]string{
	HealthPassing:  "pass",
	HealthWarning:  "warn",
	HealthCritical: "fail",
}

// UpdateTTL sets the health (HealthPassing, HealthWarning or
// HealthCritical) of the TTL check of service instance id, with an
// optional note shown as the check output.
func (c *Client) UpdateTTL(ctx context.Context, id, health, note string) error {
	p, ok := checkPaths[health]
	if !ok {
		return fmt.Errorf("client: unknown health %q (want %s, %s or %s)", health, HealthPassing, HealthWarning, HealthCritical)
	}
	q := url.Values{}
	if note != "" {
		q.Set("note", note)
	}
	_, err := c.call(ctx, http.MethodPut, "/v1/agent/check/"+p+"/"+segment(id), q, nil, nil)
	return err
}
