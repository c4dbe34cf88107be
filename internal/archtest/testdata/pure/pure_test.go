package pure

import (
	"os"
	"time"
)

var _ = os.Getpid
var _ = time.Now
