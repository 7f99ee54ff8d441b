// Package ui is Murmur's web dashboard: static HTML, CSS and JavaScript
// embedded in the binary (go:embed), with no external resources, so it
// works offline and behind any firewall.
//
// Handler serves the files under /ui/; the agent passes it to the HTTP
// face (httpapi.Options.UI), which mounts it beside the API on the same
// listener. The page is a client of the public HTTP API only
// (docs/http-api.md): members through blocking queries, services, the KV
// store, the agent's KV history and the propagation view. It never
// imports the agent, and adds no endpoint of its own.
//
// The API token an operator types in is kept in the tab's sessionStorage
// and sent in the X-Murmur-Token header of its requests, never in a URL. The
// page is served with a Content-Security-Policy that allows only its own
// origin. docs/ui.md describes what it shows.
package ui
