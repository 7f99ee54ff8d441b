//go:build race

package dnsserver

const raceEnabled = true
