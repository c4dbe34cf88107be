package lab

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"
)

// Timing of the supervisor: it looks every superviseTick; a process that exits is
// restarted at once the first time, then after a delay doubling from restartBackoff up to
// maxRestartBackoff; one that stays up for stableAfter is forgiven its past exits.
const (
	superviseTick     = 250 * time.Millisecond
	restartBackoff    = 500 * time.Millisecond
	maxRestartBackoff = 10 * time.Second
	stableAfter       = 30 * time.Second
)

// unit is one process the supervisor keeps running.
type unit struct {
	what     string
	argv     func(Config) []string
	log      func(name string) string
	pid      func(*State) *int
	restarts func(*State) *int

	delay   time.Duration // before the next restart
	next    time.Time     // when the pending restart is due; zero: none pending
	started time.Time     // when the supervisor last started it
}

func supervisedUnits() []*unit {
	return []*unit{
		{what: "datastore", argv: datastoreArgv, log: func(n string) string { return filepath.Join(logDir(n), "datastore.log") },
			pid: func(s *State) *int { return &s.DatastorePID }, restarts: func(s *State) *int { return &s.DatastoreRestarts }},
		{what: "controller", argv: controllerArgv, log: func(n string) string { return filepath.Join(logDir(n), "controller.log") },
			pid: func(s *State) *int { return &s.ControllerPID }, restarts: func(s *State) *int { return &s.ControllerRestarts }},
	}
}

// datastoreArgv and controllerArgv are the command lines of the lab's datastore and
// controller, for lab up and the supervisor alike.
func datastoreArgv(cfg Config) []string {
	return append(cfg.base(), "datastore", "run", "--data-dir", filepath.Join(Dir(cfg.Name), "datastore"),
		"--listen-client", Endpoint(cfg.Name))
}

func controllerArgv(cfg Config) []string {
	return append(cfg.base(), "lab", "controller", "--name", cfg.Name)
}

func supervisorArgv(cfg Config) []string {
	return append(cfg.base(), "lab", "supervise", "--name", cfg.Name)
}

// config rebuilds what lab up was given from the state.
func (s *State) config() Config {
	level := s.LogLevel
	if level == "" {
		level = "info"
	}
	return Config{Name: s.Name, Routing: s.Routing, Binary: s.Binary, LogLevel: level, IPv6: s.IPv6}
}

// Supervise runs `trellis lab supervise` (started by lab up): it restarts the named lab's
// datastore and controller whenever they exit, with backoff, records their new PIDs and
// restart counts in the lab's state (shown by lab status), and returns when ctx ends or
// the lab is taken down. It acts only once the state names it as the lab's supervisor, so
// that it never reads a state written before it was started.
func Supervise(ctx context.Context, name string, log *slog.Logger) error {
	units := supervisedUnits()
	t := time.NewTicker(superviseTick)
	defer t.Stop()
	log.Info("lab supervisor started", "lab", name)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		st, err := LoadState(name)
		if errors.Is(err, fs.ErrNotExist) {
			log.Info("lab is down; supervisor exiting", "lab", name)
			return nil
		}
		if err != nil || st.SupervisorPID != os.Getpid() {
			continue
		}
		for _, u := range units {
			u.check(st, log)
		}
	}
}

// check restarts u when its process is gone and its restart is due.
func (u *unit) check(st *State, log *slog.Logger) {
	pid := *u.pid(st)
	now := time.Now()
	if alive(pid) && isLabProcess(st.Name, pid) {
		if !u.started.IsZero() && now.Sub(u.started) > stableAfter {
			u.delay, u.started = 0, time.Time{}
		}
		return
	}
	if u.next.IsZero() {
		u.next = now.Add(u.delay)
		log.Warn("lab process exited; restarting", "process", u.what, "pid", pid, "in", u.delay)
		u.delay = min(max(2*u.delay, restartBackoff), maxRestartBackoff)
	}
	if now.Before(u.next) {
		return
	}
	p, err := startProcess("", u.argv(st.config()), nil, u.log(st.Name))
	if err != nil {
		log.Error("restart lab process failed", "process", u.what, "err", err)
		u.next = now.Add(u.delay)
		return
	}
	restarts := 0
	err = updateState(st.Name, func(s *State) error {
		*u.pid(s) = p.pid()
		*u.restarts(s)++
		restarts = *u.restarts(s)
		return nil
	})
	if err != nil {
		log.Error("record restarted lab process failed", "process", u.what, "pid", p.pid(), "err", err)
	}
	u.next, u.started = time.Time{}, now
	log.Info("lab process restarted", "process", u.what, "pid", p.pid(), "restarts", restarts)
}

// startSupervisor starts the lab's supervisor unless one is running and records it in st
// (the caller saves st).
func startSupervisor(cfg Config, st *State, out func(format string, args ...any)) error {
	if alive(st.SupervisorPID) && isLabProcess(cfg.Name, st.SupervisorPID) {
		return nil
	}
	p, err := startProcess("", supervisorArgv(cfg), nil, filepath.Join(logDir(cfg.Name), "supervisor.log"))
	if err != nil {
		return fmt.Errorf("start lab supervisor: %w", err)
	}
	st.SupervisorPID = p.pid()
	out("supervisor: pid %d (restarts the datastore and controller when they exit)\n", p.pid())
	return nil
}
