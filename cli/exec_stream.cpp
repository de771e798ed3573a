#include "cli/exec_stream.hpp"

#include <csignal>

#include <unistd.h>

#include "cli/common.hpp"
#include "cli/progress.hpp"
#include "cli/render.hpp"
#include "cli/signals.hpp"

namespace banger::cli {

namespace {

// Thrown from the wakeup hook to leave the poll loop at once.
struct abandoned {};

} // namespace

int stream_command(daemon_client& client, const std::string& type,
                   const wire::json& body, bool forward_stdin,
                   const std::function<int(const reply&)>& on_result) {
  progress_display progress(STDERR_FILENO);
  signal_pipe signals({SIGINT, SIGTERM, SIGHUP});
  int sigints = 0;
  bool colour = colour_enabled(STDERR_FILENO);

  stream_hooks hooks;
  hooks.on_progress = [&](const progress_event& ev) { progress.update(ev); };
  hooks.tick = std::chrono::milliseconds(progress.active() ? 100 : 0);
  hooks.on_tick = [&] { progress.tick(); };
  hooks.on_output = [&](const output_chunk& chunk) {
    // The command runs: from here on stderr belongs to it.
    progress.stop();
    wire::write_all(chunk.stream == 2 ? STDERR_FILENO : STDOUT_FILENO,
                    chunk.data);
  };
  hooks.stdin_fd = forward_stdin ? STDIN_FILENO : -1;
  hooks.wakeup_fd = signals.fd();
  hooks.on_wakeup = [&](daemon_client& c, std::uint64_t id) {
    for (int sig : signals.drain()) {
      auto act = action_for_signal(sig, sigints);
      if (sig == SIGINT)
        ++sigints;
      switch (act) {
      case signal_action::forward:
        c.send(id, "signal", to_json(signal_request{sig}));
        break;
      case signal_action::cancel:
        progress.stop();
        wire::write_all(STDERR_FILENO,
                        paint("banger: cancelling; press Ctrl-C again to stop "
                              "waiting\n",
                              sgr::dim, colour));
        c.send(id, "cancel", wire::json::object());
        break;
      case signal_action::abandon:
        throw abandoned{};
      }
    }
  };

  reply r;
  try {
    r = client.stream(type, body, hooks);
  } catch (const abandoned&) {
    progress.stop();
    wire::write_all(
        STDERR_FILENO,
        "banger: stopped waiting; the command may still be running\n");
    return 128 + SIGINT;
  }
  progress.stop();
  if (on_result)
    return on_result(r);
  if (!r.ok()) {
    wire::write_all(STDERR_FILENO, format_error(r.error(), colour));
    return exit_run_failure;
  }
  return exit_code_of(decode_result<exec_result>(r));
}

} // namespace banger::cli
