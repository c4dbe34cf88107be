package kube

import "time"

// SetCRDPoll sets how often watches check for a CRD installed after they began.
func SetCRDPoll(s *Store, d time.Duration) { s.crdPoll = d }
