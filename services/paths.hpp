#pragma once
// Where banger keeps things, per the XDG base directory spec, so that two
// instances with different XDG_* variables never see each other.
//
//   state   $XDG_STATE_HOME/banger   (~/.local/state/banger)  state.db, vms/, images/, kernels/, logs
//   config  $XDG_CONFIG_HOME/banger  (~/.config/banger)       config.toml
//   runtime $XDG_RUNTIME_DIR/banger  (/tmp/banger-<uid> if unset)  bangerd.sock, bangerd.pid
//
// A system install (`banger system install`, systemd units) uses fixed paths
// instead: /var/lib/banger, /etc/banger, /run/banger/bangerd (the daemon's
// socket) and /run/banger/helper (root's, banger-helper's socket).

#include <string>

#include <sys/types.h>

namespace banger {

struct paths {
  std::string state_dir;
  std::string config_dir;
  std::string runtime_dir;
  /// banger-helper's directory; empty means root_run_dir()/helper-UID-HASH
  /// (see helper_dir()).
  std::string helper_runtime_dir;
  /// Whose paths these are.
  uid_t uid = 0;
  /// runtime_dir is /tmp/banger-UID (no XDG_RUNTIME_DIR), a name anyone could
  /// have taken first: see check_runtime_dir().
  bool runtime_fallback = false;

  std::string socket() const { return runtime_dir + "/bangerd.sock"; }
  std::string pid_file() const { return runtime_dir + "/bangerd.pid"; }
  /// banger-helper's socket, pid file and log when a root bangerd started
  /// it: a directory of root's, under root_run_dir(), never one the owner
  /// could write. One per daemon instance (its uid and a hash of its
  /// runtime dir), so that daemons with other XDG dirs get their own.
  std::string helper_dir() const;
  std::string helper_socket() const { return helper_dir() + "/helper.sock"; }
  std::string helper_pid_file() const { return helper_dir() + "/helper.pid"; }
  std::string helper_log() const { return helper_dir() + "/helper.log"; }
  std::string database() const { return state_dir + "/state.db"; }
  std::string daemon_log() const { return state_dir + "/bangerd.log"; }
  std::string vms_dir() const { return state_dir + "/vms"; }
  std::string images_dir() const { return state_dir + "/images"; }
  std::string kernels_dir() const { return state_dir + "/kernels"; }
  std::string config_file() const { return config_dir + "/config.toml"; }
};

/// The CLI's paths: the system install's when one exists (its marker file
/// system_install_marker() is there), else resolve_paths_for(getuid()).
/// Does not create anything.
paths resolve_paths();

/// The fixed paths of a system install (see the top of this file).
paths system_paths();

/// The file `banger system install` writes and `uninstall` removes; its
/// presence tells the CLI to talk to the system daemon. `root` prefixes it
/// (an alternate root, as in systemctl --root; "" is /).
std::string system_install_marker(const std::string& root = "");

/// The paths of user `uid`: XDG_* variables when set, else that user's home
/// (from the password database when `uid` is not us, e.g. root starting the
/// daemon for its owner).
paths resolve_paths_for(uid_t uid);

/// Creates the state, runtime and store directories (mode 0700 for the
/// runtime dir). Returns an empty string on success, else what failed.
/// Run it as the paths' user, never as root for someone else.
std::string ensure_dirs(const paths& p);

/// Empty when p.runtime_dir may be used; else why not and what to do. The
/// /tmp/banger-UID fallback must be a real directory (no symlink) owned by
/// p.uid with mode 0700, or not exist yet: another user could have made it
/// first, with their own socket or a symlink in it.
std::string check_runtime_dir(const paths& p);

/// Root's directory for the helpers that root daemon starts launch:
/// $BANGER_ROOT_RUN_DIR when set (tests; it must be absolute), else
/// /run/banger. It must belong to root and be writable by root only; see
/// services/safe_dir.hpp.
std::string root_run_dir();

} // namespace banger
