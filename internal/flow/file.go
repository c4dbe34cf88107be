package flow

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// FileWriter appends flows to a file as JSON lines, one flow per line. When the file
// would grow past MaxBytes it is rotated: path becomes path.1, path.1 path.2, ..., and
// the oldest beyond Keep is removed. Not safe for concurrent use.
type FileWriter struct {
	Path     string
	MaxBytes int64
	Keep     int
	f        *os.File
	size     int64
}

// Write appends flows, rotating first when they would not fit.
func (w *FileWriter) Write(flows []Flow) error {
	if len(flows) == 0 {
		return nil
	}
	var buf []byte
	for _, f := range flows {
		b, err := json.Marshal(f)
		if err != nil {
			return fmt.Errorf("encode flow: %w", err)
		}
		buf = append(append(buf, b...), '\n')
	}
	if w.f == nil {
		if err := w.open(); err != nil {
			return err
		}
	}
	if w.MaxBytes > 0 && w.size > 0 && w.size+int64(len(buf)) > w.MaxBytes {
		if err := w.rotate(); err != nil {
			return err
		}
	}
	n, err := w.f.Write(buf)
	w.size += int64(n)
	if err != nil {
		return fmt.Errorf("write flow log %s: %w", w.Path, err)
	}
	return nil
}

func (w *FileWriter) open() error {
	if err := os.MkdirAll(filepath.Dir(w.Path), 0o755); err != nil {
		return fmt.Errorf("flow log directory: %w", err)
	}
	f, err := os.OpenFile(w.Path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open flow log: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("open flow log: %w", err)
	}
	w.f, w.size = f, fi.Size()
	return nil
}

func (w *FileWriter) rotate() error {
	if err := w.f.Close(); err != nil {
		return fmt.Errorf("close flow log %s: %w", w.Path, err)
	}
	w.f = nil
	keep := max(w.Keep, 1)
	_ = os.Remove(fmt.Sprintf("%s.%d", w.Path, keep))
	for i := keep - 1; i >= 1; i-- {
		if err := os.Rename(fmt.Sprintf("%s.%d", w.Path, i), fmt.Sprintf("%s.%d", w.Path, i+1)); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("rotate flow log: %w", err)
		}
	}
	if err := os.Rename(w.Path, w.Path+".1"); err != nil {
		return fmt.Errorf("rotate flow log: %w", err)
	}
	return w.open()
}

// Close closes the file.
func (w *FileWriter) Close() error {
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	return err
}
