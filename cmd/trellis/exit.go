package main

import (
	"errors"

	"github.com/trellisnet/trellis/internal/ctl"
)

func exitCode(err error) int {
	var ec ctl.ExitCodeError
	if errors.As(err, &ec) {
		return ec.Code
	}
	var d ctl.DiffExitError
	if errors.As(err, &d) {
		return d.Code
	}
	var u ctl.UsageError
	if errors.As(err, &u) || isCobraUsage(err) {
		return 2
	}
	return 1
}
