package ctl

import (
	"fmt"
	"io"
	"os"
	"time"
)

// progressMin is the number of objects from which a write shows a progress line.
const progressMin = 200

// progressEvery is how often the progress line is redrawn.
const progressEvery = 250 * time.Millisecond

// progress redraws one line ("applied 1200/50000") on a terminal during long writes and
// clears it when done; without a terminal it does nothing.
type progress struct {
	w     io.Writer
	verb  string
	total int
	last  time.Time
	shown bool
}

// Terminal returns w when it is a terminal (a character device), else nil: where a
// progress line may go.
func Terminal(w io.Writer) io.Writer {
	f, ok := w.(*os.File)
	if !ok {
		return nil
	}
	fi, err := f.Stat()
	if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return nil
	}
	return w
}

func newProgress(w io.Writer, verb string, total int) *progress {
	if total < progressMin {
		w = nil
	}
	return &progress{w: w, verb: verb, total: total}
}

func (p *progress) step(done int) {
	if p.w == nil {
		return
	}
	if now := time.Now(); done == p.total || now.Sub(p.last) >= progressEvery {
		p.last = now
		fmt.Fprintf(p.w, "\r%s %d/%d", p.verb, done, p.total)
		p.shown = true
	}
}

// finish clears the line.
func (p *progress) finish() {
	if p.w != nil && p.shown {
		fmt.Fprint(p.w, "\r\033[K")
		p.shown = false
	}
}
