#include "cli/workspace.hpp"

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <csignal>
#include <mutex>
#include <thread>

#include <fcntl.h>
#include <unistd.h>

#include "cli/common.hpp"
#include "cli/progress.hpp"
#include "cli/render.hpp"
#include "services/error.hpp"
#include "services/timefmt.hpp"
#include "services/workspace_tar.hpp"

namespace banger::cli {

namespace {

/// How far the sender may run ahead of what the guest has unpacked: bounds
/// what bangerd and the agent buffer for a slow guest.
constexpr std::uint64_t send_window = 8u << 20;

/// Paces the tar writer (its own thread) on the guest's acks.
struct pacing {
  std::mutex m;
  std::condition_variable cv;
  std::uint64_t acked = 0;
  bool stop = false;

  /// Waits until `sent` bytes are within the window; false once stopped.
  bool wait_room(std::uint64_t sent) {
    std::unique_lock lock(m);
    cv.wait(lock, [&] { return stop || sent < acked + send_window; });
    return !stop;
  }
  void ack(std::uint64_t n) {
    {
      std::lock_guard lock(m);
      acked = std::max(acked, n);
    }
    cv.notify_all();
  }
  void halt() {
    {
      std::lock_guard lock(m);
      stop = true;
    }
    cv.notify_all();
  }
};

bool write_fd(int fd, const char* p, std::size_t n) {
  while (n > 0) {
    auto w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return false;
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

std::string first_lines(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' '))
    text.pop_back();
  if (text.size() > 2000)
    text = text.substr(0, 2000) + "...";
  return text;
}

} // namespace

workspace::plan plan_or_fail(const workspace::options& opts) {
  auto p = workspace::make_plan(opts);
  if (!p)
    throw command_error(error_body{to_string(error_code(p.error())),
                                   error_message(p.error()), ""});
  return std::move(*p);
}

void add_workspace_options(CLI::App& cmd, workspace_flags& flags) {
  cmd.add_option("--mode", flags.mode,
                 "overlay (default): the files plus a .git holding HEAD only; "
                 "full_copy: all of .git and the submodules");
  cmd.add_flag("--include-untracked", flags.include_untracked,
               "Also send untracked files that .gitignore does not exclude");
}

workspace::plan plan_or_fail(const std::string& path, const workspace_flags& flags) {
  auto m = workspace::parse_mode(flags.mode);
  if (!m)
    fail(error_message(m.error()));
  return plan_or_fail({path, *m, flags.include_untracked});
}

std::string plan_summary(const workspace::plan& plan) {
  auto n = plan.files.size();
  return std::to_string(n) + (n == 1 ? " file, " : " files, ")
         + format_bytes(plan.file_bytes) + " (+ .git "
         + format_bytes(plan.git_bytes) + ", "
         + workspace::to_string(plan.opts.m) + ")";
}

captured exec_capture(daemon_client& client, const std::string& vm,
                      const exec_spec& spec) {
  captured c;
  stream_hooks hooks;
  hooks.on_output = [&](const output_chunk& chunk) {
    (chunk.stream == 2 ? c.err : c.out) += chunk.data;
  };
  vm_exec_request req{vm, spec};
  auto r = client.stream("vm.exec", to_json(req), hooks);
  c.result = decode_result<exec_result>(r);
  return c;
}

std::optional<workspace::state> guest_state(daemon_client& client,
                                            const std::string& vm) {
  exec_spec spec;
  spec.argv = {"@banger-agent", "workspace-state", guest_workspace};
  spec.cwd = "/";
  auto c = exec_capture(client, vm, spec);
  if (c.result.exit_code != 0 || c.out.empty())
    return std::nullopt;
  try {
    return workspace::state_from_json(wire::json::parse(c.out));
  } catch (const std::exception&) {
    return std::nullopt; // a damaged marker counts as no workspace
  }
}

void send_workspace(daemon_client& client, const std::string& vm,
                    const workspace::plan& plan, int cancel_fd) {
  // The tar writer's pipe must not kill us if the stream ends early.
  ::signal(SIGPIPE, SIG_IGN);
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0)
    fail(std::string("cannot make a pipe: ") + std::strerror(errno));
  pacing pace;
  caf::expected<std::uint64_t> written{std::uint64_t{0}};
  std::thread producer([&] {
    std::uint64_t sent = 0;
    written = workspace::write_tar(plan, [&](const char* d, std::size_t n) {
      if (!pace.wait_room(sent) || !write_fd(fds[1], d, n))
        return false;
      sent += n;
      return true;
    });
    ::close(fds[1]);
  });

  auto state = workspace::state_of(plan, now_rfc3339());
  exec_spec spec;
  spec.argv = {"@banger-agent", "workspace-unpack", guest_workspace,
               to_json(state).dump()};
  spec.cwd = "/";
  spec.stdin_open = true;

  progress_display progress(STDERR_FILENO);
  std::uint64_t total = plan.file_bytes + plan.git_bytes;
  std::string line, err;
  stream_hooks hooks;
  hooks.stdin_fd = fds[0];
  hooks.tick = std::chrono::milliseconds(progress.active() ? 100 : 0);
  hooks.on_tick = [&] { progress.tick(); };
  hooks.on_output = [&](const output_chunk& chunk) {
    if (chunk.stream == 2) {
      err += chunk.data;
      return;
    }
    line += chunk.data;
    for (auto nl = line.find('\n'); nl != std::string::npos;
         nl = line.find('\n')) {
      auto l = line.substr(0, nl);
      line.erase(0, nl + 1);
      if (l.rfind("ack ", 0) == 0) {
        auto n = std::strtoull(l.c_str() + 4, nullptr, 10);
        pace.ack(n);
        progress.update({"upload", "sending the workspace to " + vm,
                         std::min<std::uint64_t>(n, total), total});
      }
    }
  };
  bool cancelled = false;
  if (cancel_fd >= 0) {
    hooks.wakeup_fd = cancel_fd;
    hooks.on_wakeup = [&](daemon_client& c, std::uint64_t id) {
      char buf[64];
      while (::read(cancel_fd, buf, sizeof buf) > 0) {
      }
      if (!cancelled)
        c.send(id, "cancel", wire::json::object());
      cancelled = true;
    };
  }
  reply r;
  try {
    r = client.stream("vm.exec", to_json(vm_exec_request{vm, spec}), hooks);
  } catch (...) {
    pace.halt();
    ::close(fds[0]);
    producer.join();
    throw;
  }
  pace.halt();
  ::close(fds[0]);
  producer.join();
  progress.stop();
  if (cancelled)
    throw interrupted(
        "the workspace prepare for VM '" + vm
        + "' was interrupted; its previous /root/repo is unchanged");
  auto res = decode_result<exec_result>(r);
  if (res.exit_code == 127
      && err.find("command not found") != std::string::npos)
    fail("VM '" + vm
         + "' runs an older banger-agent without workspace "
           "support; restart the VM to boot the current agent");
  if (res.exit_code != 0)
    fail("the workspace did not reach VM '" + vm + "': "
         + (err.empty()
                ? "the guest's unpack exited " + std::to_string(res.exit_code)
                : first_lines(err)));
  if (!written && error_code(written.error()) != ec::cancelled)
    fail("the workspace did not reach VM '" + vm
         + "': " + error_message(written.error()));
}

void check_bootstrap(const workspace::plan& plan, bool nat, bool no_bootstrap) {
  if (no_bootstrap)
    return;
  bool mise = std::any_of(
      plan.files.begin(), plan.files.end(),
      [](const workspace::entry& e) { return e.path == ".mise.toml"; });
  if (mise && !nat)
    fail("the workspace at " + plan.repo.top
         + " has a .mise.toml, whose bootstrap (mise install) downloads tools "
           "and needs the network; add --nat, or --no-bootstrap to skip it");
}

void run_bootstrap(daemon_client& client, const std::string& vm,
                   const workspace::plan& plan) {
  bool mise = std::any_of(
      plan.files.begin(), plan.files.end(),
      [](const workspace::entry& e) { return e.path == ".mise.toml"; });
  if (!mise)
    return;
  exec_spec spec;
  spec.argv = {"sh", "-c",
               "command -v mise >/dev/null 2>&1 || { echo 'the image has no "
               "mise, which the .mise.toml bootstrap needs; use an image with "
               "mise or --no-bootstrap' >&2; exit 127; }; "
               "mise trust --yes . && mise install"};
  spec.cwd = guest_workspace;
  auto c = exec_capture(client, vm, spec);
  if (c.result.exit_code != 0)
    fail("the workspace bootstrap (mise install) failed in VM '" + vm
         + "': " + first_lines(c.err.empty() ? c.out : c.err));
}

} // namespace banger::cli
