// Package metrictest reads Prometheus metrics in tests, from outside as a scraper does:
// Scrape fetches and parses a live /metrics page (text format), Gather reads a registry,
// and Value finds one sample by name and labels.
//
// Test support only: imported by _test.go files, never by a daemon.
package metrictest
