package server

import (
	"fmt"
	"os"
	"syscall"

	"ward/internal/db"
)

// lockSQLite makes sure one SQLite file is served by one `ward serve`: the
// single-writer design (group commit, in-memory typing, the notifier) holds
// only within one process, so a second server on the same file would lose
// wake-ups and interleave writers. Several instances need PostgreSQL.
// `ward migrate` and `ward admin` open the database without serving and
// take no lock. The lock goes with the process, so a crash never leaves it
// behind.
func (s *Server) lockSQLite() error {
	if s.DB.Dialect != db.SQLite {
		return nil
	}
	path := s.Config.Database + ".lock"
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return fmt.Errorf("another ward serve is already using the database %s (one SQLite file serves one instance; several instances need PostgreSQL)", s.Config.Database)
	}
	s.sqliteLock = f
	return nil
}

// unlockSQLite releases the lock taken by lockSQLite.
func (s *Server) unlockSQLite() {
	if s.sqliteLock != nil {
		_ = syscall.Flock(int(s.sqliteLock.Fd()), syscall.LOCK_UN)
		_ = s.sqliteLock.Close()
		s.sqliteLock = nil
	}
}
