#pragma once
// The CLI side of workspaces: sending a plan into a VM's /root/repo through
// the agent (one tar stream as the stdin of the agent's workspace-unpack
// command, paced by its "ack" lines), reading back what the guest recorded,
// and running small guest commands whose output we keep.

#include <optional>
#include <stdexcept>
#include <string>

#include <CLI/CLI.hpp>

#include "cli/client.hpp"
#include "services/workspace.hpp"

namespace banger::cli {

/// Where prepared workspaces live in the guest.
inline constexpr const char* guest_workspace = "/root/repo";

/// Streams `plan` into VM `vm` (replacing /root/repo), showing progress on
/// stderr when it is a terminal. Throws command_error on any failure; the
/// previous workspace is then left as it was.
/// When `cancel_fd` (a signal_pipe's) becomes readable, the unpack is
/// cancelled (the old workspace stays) and send_workspace throws
/// interrupted.
void send_workspace(daemon_client& client, const std::string& vm,
                    const workspace::plan& plan, int cancel_fd = -1);

/// A prepare stopped by a signal (Ctrl-C).
struct interrupted : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// What the guest recorded at the last prepare; nullopt if none. Throws
/// command_error when the VM cannot run commands (not running, unknown).
std::optional<workspace::state> guest_state(daemon_client& client,
                                            const std::string& vm);

struct captured {
  exec_result result;
  std::string out;
  std::string err;
};

/// Runs `spec` in VM `vm` and keeps its output. Throws command_error on a
/// daemon error.
captured exec_capture(daemon_client& client, const std::string& vm,
                      const exec_spec& spec);

/// The plan for `opts`, or command_error naming what is wrong.
workspace::plan plan_or_fail(const workspace::options& opts);

/// --mode and --include-untracked, as vm run PATH and vm workspace prepare
/// take them.
struct workspace_flags {
  std::string mode = "overlay";
  bool include_untracked = false;
};
void add_workspace_options(CLI::App& cmd, workspace_flags& flags);

/// The plan for the repository at `path` with `flags`, or command_error
/// naming what is wrong (a bad mode, not a repository, ...).
workspace::plan plan_or_fail(const std::string& path, const workspace_flags& flags);

/// "N files, X MB" for messages.
std::string plan_summary(const workspace::plan& plan);

/// Refuses a workspace with a .mise.toml (its bootstrap installs tools from
/// the network) unless the VM has NAT or bootstrap is skipped.
void check_bootstrap(const workspace::plan& plan, bool nat, bool no_bootstrap);

/// Runs the bootstrap (mise install) in the guest if the plan needs it.
void run_bootstrap(daemon_client& client, const std::string& vm,
                   const workspace::plan& plan);

} // namespace banger::cli
