package main

import "strings"

// isCobraUsage recognises cobra's own argument errors (unknown command, wrong arg count),
// which cobra returns as plain errors.
func isCobraUsage(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand", "accepts ", "requires at least", "requires at most", "requires exactly", "flag needs an argument", "invalid argument"} {
		if strings.HasPrefix(msg, p) || strings.Contains(msg, " "+p) {
			return true
		}
	}
	return false
}
