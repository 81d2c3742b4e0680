// Package leftover finds and removes what lab tests leave on the shared broker and database when they cannot clean
// up after themselves (a panic, a timeout, Ctrl-C, a SIGKILL): queues, exchanges and PostgreSQL schemas.
//
// The harness registers every name here before the broker or the database creates it, in a table of the kit's
// database (msglabs.leftovers, created on demand), and deletes the record once its own cleanup removed the object.
// A record that outlives its test is therefore a leftover: Sweep removes one owner's leftovers whose process is
// gone (the checker's start-up sweep and `checker clean`), Clean removes everyone's older than a bound (the
// instructor, on the room's broker). Both are idempotent and safe to run while other attendees' tests run.
package leftover

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// EnvOwner names the variable that sets the owner id (the checker sets it for the test binaries it runs).
const EnvOwner = "MSGLABS_OWNER"

// ownerLen is how many hex digits of the default owner id are kept: short in names, distinct enough for a room.
const ownerLen = 6

// maxOwnerLen bounds an owner id taken from MSGLABS_OWNER, so names and schemas keep room for the test's name.
const maxOwnerLen = 12

var ownerUnsafe = regexp.MustCompile(`[^a-z0-9]+`)

// Owner returns this checkout's owner id: MSGLABS_OWNER when set (lower-cased, letters and digits only, at most 12),
// otherwise the first 6 hex digits of sha256(hostname + kit root). Every name the harness creates carries it.
func Owner() string {
	if v := ownerUnsafe.ReplaceAllString(strings.ToLower(os.Getenv(EnvOwner)), ""); v != "" {
		return v[:min(len(v), maxOwnerLen)]
	}
	return DefaultOwner(hostname(), KitRoot())
}

// DefaultOwner is the owner id of the checkout at root on host.
func DefaultOwner(host, root string) string {
	sum := sha256.Sum256([]byte(host + root))
	return hex.EncodeToString(sum[:])[:ownerLen]
}

// KitRoot returns the kit's root folder: the nearest folder at or above the working directory holding go.mod, or
// the working directory itself.
func KitRoot() string {
	wd, err := os.Getwd()
	if err != nil {
		return ""
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		if filepath.Dir(dir) == dir {
			return wd
		}
	}
}

func hostname() string {
	h, err := os.Hostname()
	if err != nil {
		return "unknown-host"
	}
	return h
}
