package embed

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Ready is nil while the member serves with a known leader and no alarm raised (NOSPACE,
// CORRUPT); else why not, for /readyz.
func (s *Server) Ready() error {
	e := s.live.Load()
	if e == nil {
		return errors.New("datastore not running")
	}
	if e.Server.Leader() == 0 {
		return fmt.Errorf("datastore %s has no leader", s.cfg.Name)
	}
	for _, a := range e.Server.Alarms() {
		return fmt.Errorf("datastore %s: alarm %s raised", s.cfg.Name, a.Alarm)
	}
	return nil
}

// Gatherer is where etcd's metrics are: etcd registers its etcd_* families (and the Go
// and process collectors) in the process's default Prometheus registry when its packages
// are initialised, so the datastore serves that registry rather than one of its own.
func Gatherer() prometheus.Gatherer { return prometheus.DefaultGatherer }
